//! Elliptic-curve public keys (`model-signing-format.md` §6.1).
//!
//! Owns EC public keys on P-256/P-384/P-521 (and secp256k1, which only the certificate method
//! tolerates), the key hint (SHA-256 of the key re-encoded as `cryptography` writes it, not of the
//! file) and ECDSA verification through aws-lc-rs. No file I/O: callers pass bytes.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, VerificationAlgorithm};
use sha2::{Digest as _, Sha256};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::der::der_tlv;
use crate::dsse;
use crate::pem::{python_pem, scan_pem};

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

/// Why a PEM text or a key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No well-formed PEM block at all.
    #[error(
        "Unable to load PEM file: no well-formed -----BEGIN ...----- / -----END ...----- block found"
    )]
    NoPem,
    /// A PEM block without its END line, or with a body that is not base64.
    #[error(
        "Unable to load PEM file: a -----BEGIN ...----- block is malformed (no matching END line, or invalid base64)"
    )]
    MalformedPem,
    /// The first PEM block is not a public key.
    #[error(
        "Valid PEM but no BEGIN PUBLIC KEY/END PUBLIC KEY delimiters. Are you sure this is a public key? (found {0})"
    )]
    NotAPublicKey(String),
    /// The DER inside the PEM is not a SubjectPublicKeyInfo.
    #[error(
        "Could not deserialize key data: the PUBLIC KEY block is not a valid SubjectPublicKeyInfo"
    )]
    BadSpki,
    /// A key of another algorithm (RSA, Ed25519, ...).
    #[error("Only elliptic curve keys are supported (got a {0} key)")]
    NotEc(String),
    /// An EC key on a curve `model_signing` does not support.
    #[error("Unsupported key for curve '{0}'")]
    UnsupportedCurve(String),
    /// The curve point does not decode or is not on the curve.
    #[error("invalid {0} public key: the point is malformed or not on the curve")]
    BadPoint(&'static str),
    /// A key verifier was given no key at all.
    #[error("no public key to verify with")]
    NoKeys,
}

/// The curves `model_signing` knows, with their signature hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1): SHA-256.
    P256,
    /// NIST P-384 (secp384r1): SHA-384.
    P384,
    /// NIST P-521 (secp521r1): SHA-512.
    P521,
    /// secp256k1: accepted by the certificate method only (Python picks the hash from the key
    /// size, 256 bits → SHA-256); rejected by the key method and the signers.
    Secp256k1,
}

/// The hash an ECDSA signature uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigHash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Curve {
    /// The OpenSSL curve name, as `cryptography` reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "secp256r1",
            Self::P384 => "secp384r1",
            Self::P521 => "secp521r1",
            Self::Secp256k1 => "secp256k1",
        }
    }

    /// The hash `model_signing` pairs with the curve (`get_ec_key_hash`: by key size).
    pub fn hash(self) -> SigHash {
        match self {
            Self::P256 | Self::Secp256k1 => SigHash::Sha256,
            Self::P384 => SigHash::Sha384,
            Self::P521 => SigHash::Sha512,
        }
    }

    /// Whether `model_signing`'s key method and signers accept the curve.
    pub(crate) fn is_model_signing_key_curve(self) -> bool {
        !matches!(self, Self::Secp256k1)
    }

    fn oid(self) -> &'static str {
        match self {
            Self::P256 => "1.2.840.10045.3.1.7",
            Self::P384 => "1.3.132.0.34",
            Self::P521 => "1.3.132.0.35",
            Self::Secp256k1 => "1.3.132.0.10",
        }
    }

    /// DER of the curve's OBJECT IDENTIFIER (tag and length included).
    fn oid_der(self) -> &'static [u8] {
        match self {
            Self::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            Self::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
            Self::P521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
            Self::Secp256k1 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
        }
    }

    pub(crate) fn from_oid(oid: &str) -> Result<Self, KeyError> {
        [Self::P256, Self::P384, Self::P521, Self::Secp256k1]
            .into_iter()
            .find(|c| c.oid() == oid)
            .ok_or_else(|| KeyError::UnsupportedCurve(curve_name_for_oid(oid)))
    }

    fn coordinate_len(self) -> usize {
        match self {
            Self::P256 | Self::Secp256k1 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// The aws-lc-rs verification algorithm for this curve and hash.
    pub(crate) fn verification_algorithm(
        self,
        hash: SigHash,
    ) -> &'static sig::EcdsaVerificationAlgorithm {
        match (self, hash) {
            (Self::P256, SigHash::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
            (Self::P256, SigHash::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
            (Self::P256, SigHash::Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
            (Self::P384, SigHash::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
            (Self::P384, SigHash::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
            (Self::P384, SigHash::Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
            (Self::P521, SigHash::Sha256) => &sig::ECDSA_P521_SHA256_ASN1,
            (Self::P521, SigHash::Sha384) => &sig::ECDSA_P521_SHA384_ASN1,
            (Self::P521, SigHash::Sha512) => &sig::ECDSA_P521_SHA512_ASN1,
            // aws-lc-rs offers secp256k1 with SHA-256 only, the one hash Python pairs with it.
            (Self::Secp256k1, _) => &sig::ECDSA_P256K1_SHA256_ASN1,
        }
    }

    /// The aws-lc-rs signing algorithm with the curve's own hash (what the signers use).
    pub(crate) fn signing_algorithm(self) -> Option<&'static sig::EcdsaSigningAlgorithm> {
        match self {
            Self::P256 => Some(&sig::ECDSA_P256_SHA256_ASN1_SIGNING),
            Self::P384 => Some(&sig::ECDSA_P384_SHA384_ASN1_SIGNING),
            Self::P521 => Some(&sig::ECDSA_P521_SHA512_ASN1_SIGNING),
            Self::Secp256k1 => None,
        }
    }
}

fn curve_name_for_oid(oid: &str) -> String {
    match oid {
        "1.2.840.10045.3.1.1" => "secp192r1",
        "1.3.132.0.33" => "secp224r1",
        "1.3.132.0.31" => "secp192k1",
        "1.3.132.0.32" => "secp224k1",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1",
        "1.3.132.0.1" => "sect163k1",
        "1.3.132.0.26" => "sect233k1",
        "1.3.132.0.16" => "sect283k1",
        "1.3.132.0.36" => "sect409k1",
        "1.3.132.0.38" => "sect571k1",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// A human name for a public-key algorithm OID (for error messages).
pub(crate) fn key_algorithm_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.113549.1.1.10" => "RSA-PSS",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.10046.2.1" => "DH",
        other => return format!("OID {other}"),
    }
    .to_owned()
}

/// An EC public key on a known curve, with its point in uncompressed form.
#[derive(Clone, PartialEq, Eq)]
pub struct EcPublicKey {
    curve: Curve,
    point: Vec<u8>,
}

impl std::fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EcPublicKey({}, {})",
            self.curve.name(),
            hex::encode(&self.point)
        )
    }
}

impl EcPublicKey {
    /// Parses a DER SubjectPublicKeyInfo. Non-EC keys and unknown curves are errors.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(der).map_err(|_| KeyError::BadSpki)?;
        Self::from_spki(&spki)
    }

    /// From an already parsed SubjectPublicKeyInfo (e.g. a certificate's).
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, KeyError> {
        let alg = spki.algorithm.algorithm.to_id_string();
        if alg != OID_EC_PUBLIC_KEY {
            return Err(KeyError::NotEc(key_algorithm_name(&alg)));
        }
        let curve_oid = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string())
            // Explicit curve parameters (a SEQUENCE) are not supported, as in `cryptography`.
            .ok_or_else(|| KeyError::UnsupportedCurve("explicit parameters".to_owned()))?;
        let curve = Curve::from_oid(&curve_oid)?;
        Self::from_point(curve, &spki.subject_public_key.data)
    }

    /// From a SEC1 point (uncompressed or compressed); checks that it is on the curve.
    pub fn from_point(curve: Curve, point: &[u8]) -> Result<Self, KeyError> {
        let alg = curve.verification_algorithm(curve.hash());
        let parsed =
            ParsedPublicKey::new(alg, point).map_err(|_| KeyError::BadPoint(curve.name()))?;
        let uncompressed_len = 1 + 2 * curve.coordinate_len();
        if point.len() == uncompressed_len && point.first() == Some(&0x04) {
            return Ok(Self {
                curve,
                point: point.to_vec(),
            });
        }
        // A compressed point: let aws-lc re-encode the key, then take the point from the SPKI.
        let der = parsed
            .as_der()
            .map_err(|_| KeyError::BadPoint(curve.name()))?;
        let (_, spki) = SubjectPublicKeyInfo::from_der(der.as_ref())
            .map_err(|_| KeyError::BadPoint(curve.name()))?;
        let p = spki.subject_public_key.data.to_vec();
        if p.len() == uncompressed_len && p.first() == Some(&0x04) {
            Ok(Self { curve, point: p })
        } else {
            Err(KeyError::BadPoint(curve.name()))
        }
    }

    /// Loads the first PEM block of `pem`, which must be a `PUBLIC KEY`.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        // `cryptography` parses the first block and fails when it is malformed.
        let block = scan_pem(pem)
            .into_iter()
            .next()
            .ok_or(KeyError::NoPem)?
            .ok_or(KeyError::MalformedPem)?;
        match block.label.as_str() {
            "PUBLIC KEY" => {}
            // `cryptography` loads PKCS#1 RSA public keys too; model_signing then needs EC.
            "RSA PUBLIC KEY" => return Err(KeyError::NotEc("RSA".to_owned())),
            _ => return Err(KeyError::NotAPublicKey(block.label)),
        }
        Self::from_spki_der(&block.der)
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The uncompressed SEC1 point.
    pub fn point(&self) -> &[u8] {
        &self.point
    }

    /// The SubjectPublicKeyInfo DER (named curve, uncompressed point), as OpenSSL writes it.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        let mut alg = der_tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
        alg.extend_from_slice(self.curve.oid_der());
        let mut bits = vec![0u8];
        bits.extend_from_slice(&self.point);
        let mut content = der_tlv(0x30, &alg);
        content.extend_from_slice(&der_tlv(0x03, &bits));
        der_tlv(0x30, &content)
    }

    /// The key as `cryptography` re-encodes it (`public_bytes(PEM, SubjectPublicKeyInfo)`).
    pub fn python_pem(&self) -> String {
        python_pem("PUBLIC KEY", &self.spki_der())
    }

    /// The key hint of `model_signing` ≥ 1.1: hex SHA-256 of [`Self::python_pem`].
    pub fn hint(&self) -> String {
        hex::encode(Sha256::digest(self.python_pem().as_bytes()))
    }

    /// Verifies a DER ECDSA signature over `message` with the given hash.
    pub fn verify(&self, hash: SigHash, message: &[u8], signature: &[u8]) -> bool {
        self.curve
            .verification_algorithm(hash)
            .verify_sig(&self.point, message, signature)
            .is_ok()
    }

    /// Verifies a DSSE signature as the key and certificate methods do: the normal PAE with
    /// `hash`, else the v0.2.0 compat PAE with `compat_hash`.
    pub(crate) fn verify_dsse(
        &self,
        payload: &[u8],
        signature: &[u8],
        hash: SigHash,
        compat_hash: SigHash,
    ) -> bool {
        self.verify(hash, &dsse::pae_in_toto(payload), signature)
            || self.verify(compat_hash, &dsse::pae_compat(payload), signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair};

    fn key_pair(curve: Curve) -> EcdsaKeyPair {
        EcdsaKeyPair::generate(curve.signing_algorithm().unwrap()).unwrap()
    }

    fn public(kp: &EcdsaKeyPair, curve: Curve) -> EcPublicKey {
        EcPublicKey::from_point(curve, kp.public_key().as_ref()).unwrap()
    }

    #[test]
    fn spki_round_trips_for_every_curve() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let kp = key_pair(curve);
            let key = public(&kp, curve);
            let again = EcPublicKey::from_pem(key.python_pem().as_bytes()).unwrap();
            assert_eq!(again, key);
            // aws-lc's own SPKI encoding is byte-identical to ours.
            let parsed =
                ParsedPublicKey::new(curve.verification_algorithm(curve.hash()), key.point())
                    .unwrap();
            assert_eq!(parsed.as_der().unwrap().as_ref(), key.spki_der().as_slice());
        }
    }

    #[test]
    fn compressed_points_are_re_encoded_uncompressed() {
        let kp = key_pair(Curve::P256);
        let key = public(&kp, Curve::P256);
        let point = key.point();
        let mut compressed = vec![0x02 | (point[64] & 1)];
        compressed.extend_from_slice(&point[1..33]);
        let again = EcPublicKey::from_point(Curve::P256, &compressed).unwrap();
        assert_eq!(again, key);
        assert_eq!(again.hint(), key.hint());
    }

    #[test]
    fn a_point_off_the_curve_is_rejected() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[1u8; 64]);
        assert!(matches!(
            EcPublicKey::from_point(Curve::P256, &point),
            Err(KeyError::BadPoint("secp256r1"))
        ));
    }

    #[test]
    fn public_key_pem_errors() {
        assert_eq!(EcPublicKey::from_pem(b"garbage"), Err(KeyError::NoPem));
        let cert_like = python_pem("CERTIFICATE", &[0x30, 0x00]);
        assert!(matches!(
            EcPublicKey::from_pem(cert_like.as_bytes()),
            Err(KeyError::NotAPublicKey(l)) if l == "CERTIFICATE"
        ));
        let junk = python_pem("PUBLIC KEY", &[0, 0, 0]);
        assert_eq!(
            EcPublicKey::from_pem(junk.as_bytes()),
            Err(KeyError::BadSpki)
        );
    }

    #[test]
    fn signatures_verify_with_the_curve_hash_and_not_with_another_key() {
        let rng = SystemRandom::new();
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let kp = key_pair(curve);
            let key = public(&kp, curve);
            let msg = dsse::pae_in_toto(b"{}");
            let s = kp.sign(&rng, &msg).unwrap();
            assert!(key.verify(curve.hash(), &msg, s.as_ref()));
            assert!(key.verify_dsse(b"{}", s.as_ref(), curve.hash(), SigHash::Sha256));
            assert!(!key.verify_dsse(b"{ }", s.as_ref(), curve.hash(), SigHash::Sha256));
            let other = public(&key_pair(curve), curve);
            assert!(!other.verify(curve.hash(), &msg, s.as_ref()));
        }
    }
}
