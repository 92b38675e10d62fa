//! RFC 3161 rules of §6.3 (b) the keyless library does not enforce: the timestamp's SignedData
//! has exactly one SignerInfo, and the TSA certificate that signed it carries a **critical**
//! ExtendedKeyUsage with timeStamping (what `rfc3161_client` requires). The library checks the
//! signature, the message imprint, the chain at genTime and the TSA's `validFor`.
//!
//! sigstore-python silently skips a timestamp that fails these rules; the library (and so this
//! verifier) rejects any bundle carrying a timestamp that does not verify.

use sigstore_trust_root::TrustedRoot;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::SigstoreError;

const OID_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

fn bad(msg: impl Into<String>) -> SigstoreError {
    SigstoreError::Timestamp(msg.into())
}

/// One DER TLV at the start of an input: (tag, contents, whole TLV, rest).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);
/// A TLV inside a constructed value: (tag, contents, whole TLV).
type Child<'a> = (u8, &'a [u8], &'a [u8]);

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_len) = after_tag.split_first()?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || after_len.len() < n {
            return None;
        }
        let len = after_len[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, 2 + n)
    };
    let total = header.checked_add(len)?;
    if input.len() < total {
        return None;
    }
    Some((tag, &input[header..total], &input[..total], &input[total..]))
}

/// The TLVs inside a constructed value: (tag, contents, whole TLV).
fn children(mut content: &[u8]) -> Option<Vec<Child<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, body, whole, rest) = tlv(content)?;
        out.push((tag, body, whole));
        content = rest;
    }
    Some(out)
}

/// The SignerInfos of a TimeStampResp (or a bare TimeStampToken).
fn signer_infos(token: &[u8]) -> Option<Vec<Child<'_>>> {
    let (tag, body, _, rest) = tlv(token)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let top = children(body)?;
    // TimeStampResp = SEQUENCE { PKIStatusInfo SEQUENCE, ContentInfo SEQUENCE }, or a ContentInfo.
    let content_info = match top.as_slice() {
        [(0x30, _, _), (0x30, ci, _)] => children(ci)?,
        [(0x06, _, _), (0xa0, _, _)] => top,
        _ => return None,
    };
    let [(0x06, _, _), (0xa0, explicit, _)] = content_info.as_slice() else {
        return None;
    };
    let (0x30, signed_data, _, []) = tlv(explicit)? else {
        return None;
    };
    let fields = children(signed_data)?;
    let (tag, infos, _) = *fields.last()?;
    if tag != 0x31 {
        return None;
    }
    children(infos)
}

/// Checks every RFC 3161 timestamp of the bundle against the rules above.
pub(crate) fn check_timestamps(
    tokens: &[Vec<u8>],
    root: &TrustedRoot,
) -> Result<(), SigstoreError> {
    for (i, token) in tokens.iter().enumerate() {
        let infos = signer_infos(token)
            .ok_or_else(|| bad(format!("RFC 3161 timestamp {i} is not a TimeStampResp")))?;
        let [(0x30, info, _)] = infos.as_slice() else {
            return Err(bad(format!(
                "RFC 3161 timestamp {i} must have exactly one SignerInfo, found {}",
                infos.len()
            )));
        };
        let fields = children(info)
            .ok_or_else(|| bad(format!("RFC 3161 timestamp {i}: malformed SignerInfo")))?;
        let Some(&(sid_tag, sid, _)) = fields.get(1) else {
            return Err(bad(format!(
                "RFC 3161 timestamp {i}: SignerInfo without signer"
            )));
        };
        // The trusted TSA certificate that the SignerInfo names.
        for tsa in &root.timestamp_authorities {
            let Some(leaf) = tsa.cert_chain.certificates.first() else {
                continue;
            };
            let Ok((_, cert)) = X509Certificate::from_der(leaf.raw_bytes.as_bytes()) else {
                continue;
            };
            let named = match sid_tag {
                0x30 => children(sid).is_some_and(|parts| match parts.as_slice() {
                    [(0x30, _, issuer), (0x02, serial, _)] => {
                        *issuer == cert.tbs_certificate.issuer.as_raw()
                            && *serial == cert.tbs_certificate.raw_serial()
                    }
                    _ => false,
                }),
                0x80 => cert.extensions().iter().any(|e| {
                    e.oid.to_id_string() == "2.5.29.14"
                        && tlv(e.value).is_some_and(|(_, ski, _, _)| ski == sid)
                }),
                _ => false,
            };
            if !named {
                continue;
            }
            let eku_ok = cert.extensions().iter().any(|e| {
                e.oid.to_id_string() == "2.5.29.37"
                    && e.critical
                    && cert.extended_key_usage().ok().flatten().is_some_and(|eku| {
                        eku.value.time_stamping
                            || eku
                                .value
                                .other
                                .iter()
                                .any(|o| o.to_id_string() == OID_TIME_STAMPING)
                    })
            });
            if !eku_ok {
                return Err(bad(format!(
                    "RFC 3161 timestamp {i}: the TSA certificate's ExtendedKeyUsage must be \
                     critical and contain timeStamping"
                )));
            }
        }
    }
    Ok(())
}
