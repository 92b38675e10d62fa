//! X.509 path validation for the `certificate` verification method (`model-signing-format.md`
//! §6.2).
//!
//! Owns what `model_signing` delegates to OpenSSL's `X509_verify_cert` with default settings:
//! - build a path from the leaf through the bundle's intermediates (untrusted) and the
//!   `--certificate_chain` certificates (trusted) to a **self-signed certificate in the trusted
//!   set**; issuers are matched by name and authority/subject key identifier, and every
//!   signature on the path is checked (ECDSA, Ed25519, RSA PKCS#1 v1.5 and PSS, via aws-lc-rs);
//! - everything must be valid at the validation time the caller gives (`model_signing` uses
//!   the leaf's `notBefore`, so an expired leaf still verifies);
//! - issuers must be CAs (basicConstraints CA:TRUE, keyUsage keyCertSign when present; the
//!   X.509 v1 root and keyUsage-only exceptions of OpenSSL), pathLenConstraint is honoured,
//!   and unknown critical extensions are rejected. The **leaf** is not required to be an end
//!   entity: the upstream test leaf is CA:TRUE, which OpenSSL (and therefore `model_signing`)
//!   accepts, while rustls-webpki refuses it (the leaf rule of `model_signing` is the
//!   certificate method's, [`crate::method::certificate`]);
//! - name constraints as OpenSSL checks them (subject DN, emailAddress, subjectAltName DNS,
//!   email, URI, IP and directory names; host-like common names of a leaf without DNS SANs).
//!
//! `path` builds and checks the path, `name_constraints` applies the constraints, `signature`
//! checks the signatures, `name` compares names.
//!
//! Not implemented: certificate policies, which OpenSSL only enforces on request.
//! No file I/O and no clock: certificates and the validation time are inputs.

mod error;
mod name;
mod name_constraints;
mod path;
mod signature;

pub use error::PathError;
pub use path::{VerifiedPath, verify_path};

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::der::der_read;

/// The outer structure x509-parser does not police: `Certificate ::= SEQUENCE { tbs SEQUENCE,
/// signatureAlgorithm SEQUENCE, signatureValue BIT STRING }` with nothing after it, no unused
/// bits in the signature, and the outer algorithm equal to the TBS `signature` field (OpenSSL's
/// `X509_verify` refuses a mismatch). Without this, bytes outside the signed TBS could change
/// and the certificate would still verify.
fn check_outer_structure(der: &[u8]) -> Result<(), &'static str> {
    let (tag, cert, rest) = der_read(der).ok_or("malformed DER")?;
    if tag != 0x30 || !rest.is_empty() {
        return Err("not a DER SEQUENCE, or trailing data after the certificate");
    }
    let (tbs_tag, tbs, after_tbs) = der_read(cert).ok_or("malformed tbsCertificate")?;
    let alg_start = cert.len() - after_tbs.len();
    let (alg_tag, _, after_alg) = der_read(after_tbs).ok_or("malformed signatureAlgorithm")?;
    let outer_alg = &cert[alg_start..cert.len() - after_alg.len()];
    let (sig_tag, sig, end) = der_read(after_alg).ok_or("malformed signatureValue")?;
    if tbs_tag != 0x30 || alg_tag != 0x30 || sig_tag != 0x03 || !end.is_empty() {
        return Err("unexpected certificate structure");
    }
    if sig.first() != Some(&0) {
        return Err("signatureValue has unused bits");
    }
    // tbsCertificate: [0] version OPTIONAL, serialNumber INTEGER, signature AlgorithmIdentifier
    let (mut tag, _, mut rest) = der_read(tbs).ok_or("malformed tbsCertificate")?;
    if tag == 0xa0 {
        (tag, _, rest) = der_read(rest).ok_or("malformed tbsCertificate")?;
    }
    if tag != 0x02 {
        return Err("malformed serial number");
    }
    let (_, _, after) = der_read(rest).ok_or("malformed tbsCertificate signature")?;
    let inner_alg = &rest[..rest.len() - after.len()];
    if inner_alg != outer_alg {
        return Err("signatureAlgorithm differs from the tbsCertificate signature field");
    }
    Ok(())
}

pub(crate) fn parse<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, PathError> {
    check_outer_structure(der).map_err(|reason| PathError::Malformed {
        what: what.to_owned(),
        reason: reason.to_owned(),
    })?;
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(PathError::Malformed {
            what: what.to_owned(),
            reason: "trailing data after the certificate".to_owned(),
        }),
        Err(e) => Err(PathError::Malformed {
            what: what.to_owned(),
            reason: e.to_string(),
        }),
    }
}
