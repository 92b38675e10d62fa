//! RFC 3161 rules of §6.3 (b) the keyless library does not enforce: the timestamp's SignedData
//! has exactly one SignerInfo, and the TSA certificate that signed it carries a **critical**
//! ExtendedKeyUsage with timeStamping (what `rfc3161_client` requires). The library checks the
//! signature, the message imprint, the chain at genTime and the TSA's `validFor`.
//!
//! sigstore-python silently skips a timestamp that fails these rules; the library (and so this
//! verifier) rejects any bundle carrying a timestamp that does not verify.

use sigstore_trust_root::TrustedRoot;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::der::der_read;

const OID_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

/// Why an RFC 3161 timestamp breaks a rule the engine does not check (§6.3 (b)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not a granted TimeStampResp with a SignedData.
    #[error("RFC 3161 timestamp {0} is not a granted TimeStampResp with a SignedData")]
    NotGranted(usize),
    /// Not exactly one SignerInfo.
    #[error("RFC 3161 timestamp {index} must have exactly one SignerInfo, found {count}")]
    SignerInfoCount {
        /// Which timestamp.
        index: usize,
        /// How many SignerInfos it has.
        count: usize,
    },
    /// The SignerInfo does not parse.
    #[error("RFC 3161 timestamp {0}: malformed SignerInfo")]
    MalformedSignerInfo(usize),
    /// The SignerInfo names no signer.
    #[error("RFC 3161 timestamp {0}: SignerInfo without signer")]
    NoSigner(usize),
    /// A field outside the signature breaks RFC 5652/3161.
    #[error("RFC 3161 timestamp {index}: {rule}")]
    UnsignedField {
        /// Which timestamp.
        index: usize,
        /// The rule broken.
        rule: UnsignedFieldError,
    },
    /// An embedded certificate outside the TSA's trusted chain.
    #[error(
        "RFC 3161 timestamp {index}: embedded certificate {certificate} is not in the TSA's trusted chain"
    )]
    ForeignCertificate {
        /// Which timestamp.
        index: usize,
        /// Which embedded certificate.
        certificate: usize,
    },
    /// The TSA certificate's EKU is not critical or lacks timeStamping.
    #[error(
        "RFC 3161 timestamp {0}: the TSA certificate's ExtendedKeyUsage must be critical and contain timeStamping"
    )]
    TsaExtendedKeyUsage(usize),
}

/// A rule of RFC 5652/3161 on the parts of a SignedData the signature does not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsignedFieldError {
    /// SignedData version other than 3.
    #[error("SignedData version must be 3")]
    SignedDataVersion,
    /// The encapsulated content is not a TSTInfo in an OCTET STRING.
    #[error("the encapsulated content is not an OCTET STRING holding a TSTInfo")]
    EncapsulatedContent,
    /// CRLs in the SignedData.
    #[error("SignedData must not carry CRLs")]
    Crls,
    /// A signer identifier of an unknown kind.
    #[error("unknown signer identifier")]
    UnknownSignerIdentifier,
    /// The SignerInfo version does not fit its signer identifier.
    #[error("SignerInfo version must be {0}")]
    SignerInfoVersion(u8),
    /// The SignerInfo's digestAlgorithm is malformed.
    #[error("bad SignerInfo digestAlgorithm")]
    DigestAlgorithm,
    /// The SignerInfo's signatureAlgorithm is malformed.
    #[error("bad SignerInfo signatureAlgorithm")]
    SignatureAlgorithm,
    /// Digest and signature algorithms of different hashes.
    #[error("the SignerInfo's digest and signature algorithms do not match")]
    AlgorithmMismatch,
    /// The digest algorithm is not among the SignedData's.
    #[error("the SignerInfo's digest algorithm is not listed in the SignedData")]
    DigestAlgorithmNotListed,
}

/// One DER TLV at the start of an input: (tag, contents, whole TLV, rest).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);
/// A TLV inside a constructed value: (tag, contents, whole TLV).
type Child<'a> = (u8, &'a [u8], &'a [u8]);

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (tag, contents, rest) = der_read(input)?;
    Some((tag, contents, &input[..input.len() - rest.len()], rest))
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

/// The SignedData fields, the embedded certificates and the SignerInfos of a granted
/// TimeStampResp.
type Parts<'a> = (Vec<Child<'a>>, Vec<Child<'a>>, Vec<Child<'a>>);

fn signed_data_parts(token: &[u8]) -> Option<Parts<'_>> {
    let (tag, body, _, rest) = tlv(token)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let top = children(body)?;
    // TimeStampResp = SEQUENCE { PKIStatusInfo SEQUENCE, ContentInfo SEQUENCE }, with status
    // granted (0) and no failInfo, as sigstore-python reads it (the library also takes
    // grantedWithMods and a bare ContentInfo).
    let content_info = match top.as_slice() {
        [(0x30, status, _), (0x30, ci, _)] => {
            let status = children(status)?;
            match status.as_slice() {
                [(0x02, [0], _)] | [(0x02, [0], _), (0x30, _, _)] => {}
                _ => return None,
            }
            children(ci)?
        }
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
    let certs = match fields.iter().find(|(t, _, _)| *t == 0xa0) {
        Some((_, certs, _)) => children(certs)?,
        None => Vec::new(),
    };
    let infos = children(infos)?;
    Some((fields, certs, infos))
}

/// DER of the OIDs sha256/384/512 and ecdsa-with-SHA256/384/512, paired.
const DIGEST_AND_SIGNATURE_OIDS: [(&[u8], &[u8]); 3] = [
    (
        &[
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        ],
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
    ),
    (
        &[
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        ],
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
    ),
    (
        &[
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        ],
        &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
    ),
];

/// The parts of the SignedData and SignerInfo the CMS signature does not cover and the library
/// does not read must still be what RFC 5652/3161 say: versions, a digest algorithm listed in
/// the SignedData and matching the signature algorithm, no CRLs.
fn check_unsigned_fields(
    signed_data: &[Child<'_>],
    info: &[Child<'_>],
) -> Result<(), UnsignedFieldError> {
    match signed_data.first() {
        Some((0x02, [3], _)) => {}
        _ => return Err(UnsignedFieldError::SignedDataVersion),
    }
    // encapContentInfo = SEQUENCE { id-ct-TSTInfo, [0] EXPLICIT OCTET STRING }.
    const ID_CT_TST_INFO: &[u8] = &[
        0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
    ];
    let encap_ok = match signed_data.get(2) {
        Some((0x30, encap, _)) => match children(encap).as_deref() {
            Some([(0x06, _, oid), (0xa0, explicit, _)]) => {
                *oid == ID_CT_TST_INFO
                    && tlv(explicit).is_some_and(|(tag, _, _, rest)| tag == 0x04 && rest.is_empty())
            }
            _ => false,
        },
        _ => false,
    };
    if !encap_ok {
        return Err(UnsignedFieldError::EncapsulatedContent);
    }
    if signed_data.iter().any(|(t, _, _)| *t == 0xa1) {
        return Err(UnsignedFieldError::Crls);
    }
    let expected_version: u8 = match info.get(1) {
        Some((0x30, _, _)) => 1,
        Some((0x80, _, _)) => 3,
        _ => return Err(UnsignedFieldError::UnknownSignerIdentifier),
    };
    match info.first() {
        Some((0x02, [v], _)) if *v == expected_version => {}
        _ => return Err(UnsignedFieldError::SignerInfoVersion(expected_version)),
    }
    let first_oid = |c: Option<&Child<'_>>| -> Option<Vec<u8>> {
        let (0x30, body, _) = *c? else { return None };
        let (tag, _, whole, rest) = tlv(body)?;
        // Parameters, when present, must be NULL.
        if tag != 0x06 || !(rest.is_empty() || rest == [0x05, 0x00]) {
            return None;
        }
        Some(whole.to_vec())
    };
    let digest = first_oid(info.get(2)).ok_or(UnsignedFieldError::DigestAlgorithm)?;
    let signature = first_oid(info.get(4)).ok_or(UnsignedFieldError::SignatureAlgorithm)?;
    if !DIGEST_AND_SIGNATURE_OIDS
        .iter()
        .any(|(d, s)| *d == digest.as_slice() && *s == signature.as_slice())
    {
        return Err(UnsignedFieldError::AlgorithmMismatch);
    }
    let listed = match signed_data.get(1) {
        Some((0x31, algs, _)) => children(algs)
            .unwrap_or_default()
            .iter()
            .any(|c| first_oid(Some(c)).is_some_and(|o| o == digest)),
        _ => false,
    };
    if !listed {
        return Err(UnsignedFieldError::DigestAlgorithmNotListed);
    }
    Ok(())
}

/// Checks every RFC 3161 timestamp of the bundle against the rules above.
pub(crate) fn check_timestamps(
    tokens: &[Vec<u8>],
    root: &TrustedRoot,
) -> Result<(), TimestampError> {
    for (i, token) in tokens.iter().enumerate() {
        let (signed_data, embedded, infos) =
            signed_data_parts(token).ok_or(TimestampError::NotGranted(i))?;
        let [(0x30, info, _)] = infos.as_slice() else {
            return Err(TimestampError::SignerInfoCount {
                index: i,
                count: infos.len(),
            });
        };
        let fields = children(info).ok_or(TimestampError::MalformedSignerInfo(i))?;
        let Some(&(sid_tag, sid, _)) = fields.get(1) else {
            return Err(TimestampError::NoSigner(i));
        };
        check_unsigned_fields(&signed_data, &fields)
            .map_err(|rule| TimestampError::UnsignedField { index: i, rule })?;
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
            // Certificates carried in the token are not used for verification (the trusted
            // chain is), but they must be that chain's certificates, not something else.
            let chain: Vec<&[u8]> = tsa
                .cert_chain
                .certificates
                .iter()
                .map(|c| c.raw_bytes.as_bytes())
                .collect();
            if let Some(n) = embedded
                .iter()
                .position(|(_, _, whole)| !chain.contains(whole))
            {
                return Err(TimestampError::ForeignCertificate {
                    index: i,
                    certificate: n,
                });
            }
            if !eku_ok {
                return Err(TimestampError::TsaExtendedKeyUsage(i));
            }
        }
    }
    Ok(())
}
