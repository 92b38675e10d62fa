//! Certificate signatures: whether an issuer's key type fits a signature algorithm, and the
//! signature check itself (ECDSA, Ed25519, RSA PKCS#1 v1.5 and PSS, via aws-lc-rs).

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey};
use x509_parser::certificate::X509Certificate;
use x509_parser::signature_algorithm::RsaSsaPssParams;

use super::PathError;
use crate::keys::{EcPublicKey, SigHash};

/// The key family of a public-key algorithm OID.
fn key_family(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => Some("rsa"),
        "1.2.840.10045.2.1" => Some("ec"),
        "1.3.101.112" => Some("ed25519"),
        "1.3.101.113" => Some("ed448"),
        _ => None,
    }
}

/// The key family a signature algorithm OID needs.
fn signature_family(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.10"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.113549.1.1.12"
        | "1.2.840.113549.1.1.13"
        | "1.2.840.113549.1.1.14" => Some("rsa"),
        "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.1"
        | "1.2.840.10045.4.3.2"
        | "1.2.840.10045.4.3.3"
        | "1.2.840.10045.4.3.4" => Some("ec"),
        "1.3.101.112" => Some("ed25519"),
        "1.3.101.113" => Some("ed448"),
        _ => None,
    }
}

/// OpenSSL's `check_sig_alg_match`: the issuer's key type fits the subject's signature
/// algorithm (unknown algorithms are left to the signature check).
pub(super) fn signature_algorithm_fits(
    issuer: &X509Certificate<'_>,
    subject: &X509Certificate<'_>,
) -> bool {
    let key = key_family(&issuer.public_key().algorithm.algorithm.to_id_string());
    let sig = signature_family(&subject.signature_algorithm.algorithm.to_id_string());
    match (key, sig) {
        (Some(k), Some(s)) => k == s,
        _ => true,
    }
}

/// Checks `cert`'s signature with `issuer`'s public key.
pub(super) fn check_signature(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<(), PathError> {
    let alg = cert.signature_algorithm.algorithm.to_id_string();
    let tbs = cert.tbs_certificate.as_ref();
    let signature: &[u8] = &cert.signature_value.data;
    let spki = issuer.public_key();
    let key_alg = spki.algorithm.algorithm.to_id_string();
    let unsupported = || PathError::UnsupportedSignatureAlgorithm {
        subject: cert.subject().to_string(),
        algorithm: alg.clone(),
    };
    let bad = || PathError::BadSignature {
        subject: cert.subject().to_string(),
        issuer: issuer.subject().to_string(),
    };
    let rsa_key: &[u8] = &spki.subject_public_key.data;
    let ok = match alg.as_str() {
        // sha256/384/512WithRSAEncryption (SHA-1 is refused, as OpenSSL 3 at security level 1).
        "1.2.840.113549.1.1.11" | "1.2.840.113549.1.1.12" | "1.2.840.113549.1.1.13" => {
            if key_alg != "1.2.840.113549.1.1.1" {
                return Err(bad());
            }
            let params: &'static sig::RsaParameters = match alg.as_str() {
                "1.2.840.113549.1.1.11" => &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                "1.2.840.113549.1.1.12" => &sig::RSA_PKCS1_2048_8192_SHA384,
                _ => &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
            };
            UnparsedPublicKey::new(params, rsa_key)
                .verify(tbs, signature)
                .is_ok()
        }
        // RSASSA-PSS with SHA-256/384/512 (MGF1 with the same hash, salt = hash length).
        "1.2.840.113549.1.1.10" => {
            let params = cert
                .signature_algorithm
                .parameters
                .as_ref()
                .and_then(|p| RsaSsaPssParams::try_from(p).ok())
                .ok_or_else(unsupported)?;
            let hash = params.hash_algorithm_oid().to_id_string();
            let mgf_hash = params
                .mask_gen_algorithm()
                .map(|m| m.hash.to_id_string())
                .map_err(|_| unsupported())?;
            let (alg_params, salt): (&'static sig::RsaParameters, u32) = match hash.as_str() {
                "2.16.840.1.101.3.4.2.1" => (&sig::RSA_PSS_2048_8192_SHA256, 32),
                "2.16.840.1.101.3.4.2.2" => (&sig::RSA_PSS_2048_8192_SHA384, 48),
                "2.16.840.1.101.3.4.2.3" => (&sig::RSA_PSS_2048_8192_SHA512, 64),
                _ => return Err(unsupported()),
            };
            if mgf_hash != hash || params.salt_length() != salt {
                return Err(unsupported());
            }
            UnparsedPublicKey::new(alg_params, rsa_key)
                .verify(tbs, signature)
                .is_ok()
        }
        // ecdsa-with-SHA256/384/512.
        "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" | "1.2.840.10045.4.3.4" => {
            let hash = match alg.as_str() {
                "1.2.840.10045.4.3.2" => SigHash::Sha256,
                "1.2.840.10045.4.3.3" => SigHash::Sha384,
                _ => SigHash::Sha512,
            };
            match EcPublicKey::from_spki(spki) {
                Ok(key) => key.verify(hash, tbs, signature),
                Err(_) => return Err(bad()),
            }
        }
        // Ed25519.
        "1.3.101.112" => {
            if key_alg != "1.3.101.112" {
                return Err(bad());
            }
            UnparsedPublicKey::new(&sig::ED25519, rsa_key)
                .verify(tbs, signature)
                .is_ok()
        }
        _ => return Err(unsupported()),
    };
    if ok { Ok(()) } else { Err(bad()) }
}
