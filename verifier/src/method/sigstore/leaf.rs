//! Step (e) of §6.3: the leaf's profile (KeyUsage, ExtendedKeyUsage) and the identity policy
//! (SAN and OIDC issuer), with sigstore-python's semantics and messages.
//!
//! The keyless library compares only the *first* email/URI SAN and prefers the v2 issuer
//! extension; Python accepts any SAN (email, URI or the Sigstore otherName) and reads the v1
//! extension. Both checks therefore live here, and the engine runs with an any-identity policy.

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::SigstoreError;

/// Fulcio's v1 OIDC issuer extension: the raw extension value is the issuer URL in UTF-8.
pub const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// Fulcio's v2 OIDC issuer extension: a DER UTF8String.
pub const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// The otherName type Fulcio uses for usernames (a DER UTF8String).
pub const OID_OTHERNAME_USERNAME: &str = "1.3.6.1.4.1.57264.1.7";
const OID_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

/// The identity policy: `--identity` and `--identity_provider`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPolicy {
    /// Must equal one SAN value exactly.
    pub identity: String,
    /// Must equal the OIDC issuer extension exactly.
    pub issuer: String,
}

fn oid(s: &str) -> Result<Oid<'static>, SigstoreError> {
    s.parse::<Oid<'static>>()
        .map_err(|_| SigstoreError::Certificate(format!("bad built-in OID {s}")))
}

/// Checks the leaf's profile and the identity policy; returns the matched identity.
pub(crate) fn check_leaf(der: &[u8], policy: &IdentityPolicy) -> Result<String, SigstoreError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| {
        SigstoreError::Certificate(format!(
            "the signing certificate is not valid DER X.509: {e}"
        ))
    })?;
    if !rest.is_empty() {
        return Err(SigstoreError::Certificate(
            "trailing bytes after the signing certificate".into(),
        ));
    }
    let cert_err = |m: &str| SigstoreError::Certificate(m.to_owned());

    // Exactly one SCT-list extension (the SCT itself is verified by the engine).
    let sct_oid = oid(OID_SCT_LIST)?;
    let sct_exts = cert
        .extensions()
        .iter()
        .filter(|e| e.oid == sct_oid)
        .count();
    if sct_exts == 0 {
        return Err(cert_err(
            "Certificate does not contain a signed certificate timestamp extension",
        ));
    }
    if sct_exts > 1 {
        return Err(cert_err("Certificate has more than one SCT list extension"));
    }

    // Leaf profile.
    let basic = cert
        .basic_constraints()
        .map_err(|e| SigstoreError::Certificate(format!("bad basicConstraints: {e}")))?;
    if basic.is_some_and(|b| b.value.ca) {
        return Err(cert_err("the signing certificate is a CA certificate"));
    }
    let ku = cert
        .key_usage()
        .map_err(|e| SigstoreError::Certificate(format!("bad KeyUsage: {e}")))?;
    if !ku.is_some_and(|k| k.value.digital_signature()) {
        return Err(cert_err("Key usage is not of type `digital signature`"));
    }
    let eku = cert
        .extended_key_usage()
        .map_err(|e| SigstoreError::Certificate(format!("bad ExtendedKeyUsage: {e}")))?;
    let code_signing = oid(OID_CODE_SIGNING)?;
    let has_code_signing =
        eku.is_some_and(|e| e.value.code_signing || e.value.other.contains(&code_signing));
    if !has_code_signing {
        return Err(cert_err("Extended usage does not contain `code signing`"));
    }

    // Issuer: the v1 extension as Python reads it; the v2 extension, when present, must agree.
    let v1 = oid(OID_ISSUER_V1)?;
    let v2 = oid(OID_ISSUER_V2)?;
    let mut issuer_v1: Option<String> = None;
    let mut issuer_v2: Option<String> = None;
    for ext in cert.extensions() {
        if ext.oid == v1 {
            if issuer_v1.is_some() {
                return Err(cert_err("Certificate has two OIDCIssuer extensions"));
            }
            let s = std::str::from_utf8(ext.value).map_err(|_| {
                cert_err("Certificate's OIDCIssuer (1.3.6.1.4.1.57264.1.1) is not UTF-8")
            })?;
            issuer_v1 = Some(s.to_owned());
        } else if ext.oid == v2 {
            if issuer_v2.is_some() {
                return Err(cert_err("Certificate has two OIDCIssuer v2 extensions"));
            }
            let s = der_utf8_string(ext.value).ok_or_else(|| {
                cert_err(
                    "Certificate's OIDCIssuer v2 (1.3.6.1.4.1.57264.1.8) is not a DER UTF8String",
                )
            })?;
            issuer_v2 = Some(s);
        }
    }
    match (&issuer_v1, &issuer_v2) {
        (None, None) => {
            return Err(cert_err(
                "Certificate does not contain OIDCIssuer (1.3.6.1.4.1.57264.1.1) extension",
            ));
        }
        (Some(a), Some(b)) if a != b => {
            return Err(SigstoreError::Certificate(format!(
                "Certificate's OIDCIssuer extensions disagree ('{a}' in 1.3.6.1.4.1.57264.1.1, \
                 '{b}' in 1.3.6.1.4.1.57264.1.8)"
            )));
        }
        _ => {}
    }
    let got = issuer_v1.or(issuer_v2).unwrap_or_default();
    if got != policy.issuer {
        return Err(SigstoreError::IssuerMismatch {
            got,
            expected: policy.issuer.clone(),
        });
    }

    // Identity: exact match against any email, URI or Sigstore-username SAN.
    let username = oid(OID_OTHERNAME_USERNAME)?;
    let mut sans: Vec<String> = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for name in &san.general_names {
                match name {
                    GeneralName::RFC822Name(s) | GeneralName::URI(s) => sans.push((*s).to_owned()),
                    GeneralName::OtherName(o, value) if *o == username => {
                        if let Some(s) = other_name_utf8(value) {
                            sans.push(s);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if sans.contains(&policy.identity) {
        return Ok(policy.identity.clone());
    }
    sans.sort();
    sans.dedup();
    Err(SigstoreError::IdentityMismatch {
        expected: policy.identity.clone(),
        actual: sans,
    })
}

/// Decodes a DER UTF8String (tag 12, definite length).
fn der_utf8_string(der: &[u8]) -> Option<String> {
    let (tag, body) = der_tlv(der)?;
    if tag != 0x0c {
        return None;
    }
    std::str::from_utf8(body).ok().map(str::to_owned)
}

/// An otherName value as x509-parser hands it over: `[0] EXPLICIT UTF8String`, or the bare string.
fn other_name_utf8(value: &[u8]) -> Option<String> {
    let (tag, body) = der_tlv(value)?;
    if tag == 0xa0 {
        der_utf8_string(body)
    } else {
        der_utf8_string(value)
    }
}

/// Splits one DER TLV that spans the whole input; returns (tag, contents).
fn der_tlv(der: &[u8]) -> Option<(u8, &[u8])> {
    match crate::der::der_read(der)? {
        (tag, contents, []) => Some((tag, contents)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_utf8_string_decodes_exact_tlv_only() {
        assert_eq!(der_utf8_string(b"\x0c\x03abc").as_deref(), Some("abc"));
        assert_eq!(der_utf8_string(b"\x0c\x04abc"), None);
        assert_eq!(der_utf8_string(b"\x13\x03abc"), None);
        assert_eq!(
            other_name_utf8(b"\xa0\x05\x0c\x03abc").as_deref(),
            Some("abc")
        );
    }
}
