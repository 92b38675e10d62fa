//! Signing with an EC private key or a certificate, writing the bundles `model_signing` 1.1.x
//! writes (`model-signing-format.md` §5.2).
//!
//! Owns: private-key loading (PKCS#8, SEC1 `EC PRIVATE KEY`, and password-encrypted PKCS#8 with
//! PBES2/PBKDF2/AES-CBC, as OpenSSL and `cryptography` write them), the DSSE signature over the
//! in-toto PAE with the curve's hash, and the v0.3 bundle layouts of the key and certificate
//! signers. The statement itself comes from [`crate::model::signing_payload`]. No file I/O.

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{AES_128, AES_192, AES_256, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::oid::Oid;
use x509_parser::prelude::FromDer;

use crate::bundle::{
    Bundle, Envelope, MEDIA_TYPE_V0_3, PublicKeyIdentifier, Signature, VerificationMaterial,
    X509Certificate as BundleCertificate, X509CertificateChain,
};
use crate::der::der_read;
use crate::dsse::{self, IN_TOTO_PAYLOAD_TYPE};
use crate::keys::{self, Curve, EcPublicKey, KeyError};
use crate::pem::{self, pem_blocks};

/// Why signing could not proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No PEM block in the private key file.
    #[error(
        "Unable to load PEM file: no -----BEGIN ...----- / -----END ...----- block in the private key file"
    )]
    NoPem,
    /// The first PEM block is not a private key.
    #[error(
        "Valid PEM but no BEGIN/END delimiters for a private key found. Are you sure this is a private key? (found {0})"
    )]
    NotAPrivateKey(String),
    /// A password for a key that is not encrypted (`cryptography`'s message).
    #[error("Password was given but private key is not encrypted.")]
    PasswordNotNeeded,
    /// An encrypted key without a password (`cryptography`'s message).
    #[error("Password was not given but private key is encrypted")]
    PasswordNeeded,
    /// Wrong password, or corrupt ciphertext.
    #[error("Bad decrypt. Incorrect password?")]
    BadDecrypt,
    /// An encryption scheme this signer does not implement.
    #[error(
        "unsupported private key encryption ({0}); re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
    )]
    UnsupportedEncryption(String),
    /// The key data does not parse.
    #[error(
        "Could not deserialize key data. The data may be in an incorrect format, it may be encrypted with an unsupported algorithm, or it may be an unsupported key type"
    )]
    BadKey,
    /// Not an EC key, or an unsupported curve.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signing certificate file has no certificate.
    #[error(
        "Valid PEM but no BEGIN CERTIFICATE/END CERTIFICATE delimiters. Are you sure this is a certificate?"
    )]
    NoCertificate,
    /// The certificate chain files hold no certificate.
    #[error(
        "Unable to load PEM file: no -----BEGIN CERTIFICATE----- block in the certificate chain file(s)"
    )]
    NoChainCertificates,
    /// A certificate does not parse.
    #[error("unable to parse the {0} as an X.509 certificate")]
    BadCertificate(&'static str),
    /// The certificate is not for this private key (`model_signing`'s message).
    #[error(
        "The public key from the certificate does not match the public key paired with the private key"
    )]
    CertificateKeyMismatch,
    /// aws-lc failed to sign.
    #[error("ECDSA signing failed")]
    Crypto,
}

/// An EC private key on P-256, P-384 or P-521.
#[derive(Debug)]
pub struct SigningKey {
    pair: EcdsaKeyPair,
    public: EcPublicKey,
}

impl SigningKey {
    /// Loads the first PEM block of a private key file: `PRIVATE KEY` (PKCS#8),
    /// `EC PRIVATE KEY` (SEC1) or `ENCRYPTED PRIVATE KEY` (needs `password`).
    pub fn from_pem(pem: &[u8], password: Option<&[u8]>) -> Result<Self, SignError> {
        let block = pem_blocks(pem).into_iter().next().ok_or(SignError::NoPem)?;
        let encrypted_legacy = block
            .headers
            .iter()
            .any(|(k, v)| k == "Proc-Type" && v.contains("ENCRYPTED"));
        match block.label.as_str() {
            "ENCRYPTED PRIVATE KEY" => {
                let password = password.ok_or(SignError::PasswordNeeded)?;
                let der = decrypt_pkcs8(&block.der, password)?;
                Self::from_der(&der)
            }
            "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" | "DSA PRIVATE KEY" => {
                if encrypted_legacy {
                    if password.is_none() {
                        return Err(SignError::PasswordNeeded);
                    }
                    return Err(SignError::UnsupportedEncryption(
                        "legacy PEM encryption (Proc-Type: 4,ENCRYPTED)".to_owned(),
                    ));
                }
                if password.is_some() {
                    return Err(SignError::PasswordNotNeeded);
                }
                if block.label == "RSA PRIVATE KEY" {
                    return Err(KeyError::NotEc("RSA".to_owned()).into());
                }
                if block.label == "DSA PRIVATE KEY" {
                    return Err(KeyError::NotEc("DSA".to_owned()).into());
                }
                Self::from_der(&block.der)
            }
            other => Err(SignError::NotAPrivateKey(other.to_owned())),
        }
    }

    /// A PKCS#8 or SEC1 DER private key.
    pub fn from_der(der: &[u8]) -> Result<Self, SignError> {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let Some(alg) = curve.signing_algorithm() else {
                continue;
            };
            if let Ok(pair) = EcdsaKeyPair::from_private_key_der(alg, der) {
                let public = EcPublicKey::from_point(curve, pair.public_key().as_ref())?;
                return Ok(Self { pair, public });
            }
        }
        Err(explain_unusable_key(der))
    }

    /// A fresh key (for tests and tools).
    pub fn generate(curve: Curve) -> Result<Self, SignError> {
        let alg = curve
            .signing_algorithm()
            .ok_or_else(|| SignError::Key(KeyError::UnsupportedCurve(curve.name().to_owned())))?;
        let pair = EcdsaKeyPair::generate(alg).map_err(|_| SignError::Crypto)?;
        let public = EcPublicKey::from_point(curve, pair.public_key().as_ref())?;
        Ok(Self { pair, public })
    }

    /// The unencrypted PKCS#8 DER of the key.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, SignError> {
        self.pair
            .to_pkcs8v1()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| SignError::Crypto)
    }

    /// The public half.
    pub fn public_key(&self) -> &EcPublicKey {
        &self.public
    }

    /// DER ECDSA signature over `message` with the curve's hash.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignError::Crypto)
    }

    fn envelope(&self, payload: &[u8]) -> Result<Envelope, SignError> {
        let sig = self.sign(&dsse::pae_in_toto(payload))?;
        Ok(Envelope {
            payload: payload.to_vec().into(),
            payload_type: IN_TOTO_PAYLOAD_TYPE.to_owned(),
            signatures: vec![Signature {
                sig: sig.into(),
                keyid: Some(String::new()),
            }],
        })
    }
}

/// Why a private key that is not a usable EC key was rejected.
fn explain_unusable_key(der: &[u8]) -> SignError {
    // PKCS#8: SEQUENCE { INTEGER, SEQUENCE { OID algorithm, params }, OCTET STRING, ... }
    let algorithm = (|| {
        let (_, seq, _) = der_read(der)?;
        let (_, _version, rest) = der_read(seq)?;
        let (tag, alg_id, _) = der_read(rest)?;
        if tag != 0x30 {
            return None;
        }
        let (oid_tag, oid, params) = der_read(alg_id)?;
        (oid_tag == 0x06).then(|| (oid_string(oid), params.to_vec()))
    })();
    match algorithm {
        Some((alg, params)) if alg == "1.2.840.10045.2.1" => curve_error(&params),
        Some((alg, _)) => SignError::Key(KeyError::NotEc(keys::key_algorithm_name(&alg))),
        None => sec1_curve_error(der).unwrap_or(SignError::BadKey),
    }
}

/// Why an EC key with these curve parameters (a DER OID, or explicit parameters) was refused.
fn curve_error(params: &[u8]) -> SignError {
    match der_read(params) {
        Some((0x06, oid, _)) => match Curve::from_oid(&oid_string(oid)) {
            Err(e) => SignError::Key(e),
            Ok(c) if !c.is_model_signing_key_curve() => {
                SignError::Key(KeyError::UnsupportedCurve(c.name().to_owned()))
            }
            // A supported curve that aws-lc still refused is a broken key.
            Ok(_) => SignError::BadKey,
        },
        _ => SignError::Key(KeyError::UnsupportedCurve("explicit parameters".to_owned())),
    }
}

/// For a SEC1 key on an unsupported curve: the curve's name.
fn sec1_curve_error(der: &[u8]) -> Option<SignError> {
    // ECPrivateKey: SEQUENCE { INTEGER 1, OCTET STRING, [0] { OID } OPTIONAL, [1] ... }
    let (_, seq, _) = der_read(der)?;
    let (_, _, rest) = der_read(seq)?;
    let (_, _, rest) = der_read(rest)?;
    let (tag, params, _) = der_read(rest)?;
    (tag == 0xa0).then(|| curve_error(params))
}

fn oid_string(content: &[u8]) -> String {
    Oid::new(std::borrow::Cow::Borrowed(content)).to_id_string()
}

/// Decrypts a PKCS#8 `EncryptedPrivateKeyInfo` (PBES2 with PBKDF2-HMAC-SHA1/256/384/512 and
/// AES-128/192/256-CBC, what OpenSSL and `cryptography` write).
fn decrypt_pkcs8(der: &[u8], password: &[u8]) -> Result<Vec<u8>, SignError> {
    let malformed = || SignError::BadKey;
    let (_, epki, _) = der_read(der).ok_or_else(malformed)?;
    let (_, alg_id, rest) = der_read(epki).ok_or_else(malformed)?;
    let (_, ciphertext, _) = der_read(rest).ok_or_else(malformed)?;
    let (_, scheme_oid, pbes2_params) = der_read(alg_id).ok_or_else(malformed)?;
    let scheme = oid_string(scheme_oid);
    if scheme != "1.2.840.113549.1.5.13" {
        return Err(SignError::UnsupportedEncryption(format!(
            "scheme {scheme}, not PBES2"
        )));
    }
    let (_, pbes2, _) = der_read(pbes2_params).ok_or_else(malformed)?;
    let (_, kdf, rest) = der_read(pbes2).ok_or_else(malformed)?;
    let (_, enc, _) = der_read(rest).ok_or_else(malformed)?;
    // keyDerivationFunc: PBKDF2 { salt, iterationCount, keyLength?, prf? }
    let (_, kdf_oid, kdf_params) = der_read(kdf).ok_or_else(malformed)?;
    let kdf_name = oid_string(kdf_oid);
    if kdf_name != "1.2.840.113549.1.5.12" {
        return Err(SignError::UnsupportedEncryption(format!(
            "key derivation {kdf_name}, not PBKDF2"
        )));
    }
    let (_, pbkdf2, _) = der_read(kdf_params).ok_or_else(malformed)?;
    let (_, salt, rest) = der_read(pbkdf2).ok_or_else(malformed)?;
    let (_, iterations, mut rest) = der_read(rest).ok_or_else(malformed)?;
    let iterations = iterations
        .iter()
        .try_fold(0u32, |acc, b| {
            acc.checked_mul(256).map(|a| a + u32::from(*b))
        })
        .and_then(NonZeroU32::new)
        .ok_or_else(malformed)?;
    let mut prf = aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1;
    while let Some((tag, content, next)) = der_read(rest) {
        if tag == 0x30 {
            let (_, prf_oid, _) = der_read(content).ok_or_else(malformed)?;
            prf = match oid_string(prf_oid).as_str() {
                "1.2.840.113549.2.7" => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1,
                "1.2.840.113549.2.9" => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
                "1.2.840.113549.2.10" => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA384,
                "1.2.840.113549.2.11" => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA512,
                other => {
                    return Err(SignError::UnsupportedEncryption(format!(
                        "PBKDF2 PRF {other}"
                    )));
                }
            };
        }
        rest = next;
    }
    // encryptionScheme: AES-CBC with a 16-byte IV.
    let (_, enc_oid, enc_params) = der_read(enc).ok_or_else(malformed)?;
    let (cipher, key_len) = match oid_string(enc_oid).as_str() {
        "2.16.840.1.101.3.4.1.2" => (&AES_128, 16),
        "2.16.840.1.101.3.4.1.22" => (&AES_192, 24),
        "2.16.840.1.101.3.4.1.42" => (&AES_256, 32),
        other => return Err(SignError::UnsupportedEncryption(format!("cipher {other}"))),
    };
    let (_, iv, _) = der_read(enc_params).ok_or_else(malformed)?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| malformed())?;
    let mut key = vec![0u8; key_len];
    aws_lc_rs::pbkdf2::derive(prf, iterations, salt, password, &mut key);
    let key = UnboundCipherKey::new(cipher, &key).map_err(|_| SignError::Crypto)?;
    let decrypting = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| SignError::Crypto)?;
    let mut buf = ciphertext.to_vec();
    let plain = decrypting
        .decrypt(
            &mut buf,
            aws_lc_rs::cipher::DecryptionContext::Iv128(FixedLength::from(iv)),
        )
        .map_err(|_| SignError::BadDecrypt)?;
    Ok(plain.to_vec())
}

/// The DER of the first PEM block of a `--signing_certificate` file, which must be a
/// certificate.
pub fn signing_certificate_from_pem(pem: &[u8]) -> Result<Vec<u8>, SignError> {
    let block = pem_blocks(pem)
        .into_iter()
        .next()
        .ok_or(SignError::NoCertificate)?;
    if block.label != "CERTIFICATE" && block.label != "X509 CERTIFICATE" {
        return Err(SignError::NoCertificate);
    }
    X509Certificate::from_der(&block.der)
        .map_err(|_| SignError::BadCertificate("signing certificate"))?;
    Ok(block.der)
}

/// The certificates of the concatenated `--certificate_chain` files, in file order.
pub fn chain_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, SignError> {
    let ders = pem::certificates_from_pem_strict(pem).map_err(SignError::Key)?;
    if ders.is_empty() {
        return Err(SignError::NoChainCertificates);
    }
    for der in &ders {
        X509Certificate::from_der(der)
            .map_err(|_| SignError::BadCertificate("certificate chain"))?;
    }
    Ok(ders)
}

/// The key signer's bundle: `publicKey.hint`, empty `tlogEntries`, the DSSE envelope.
pub fn key_bundle(key: &SigningKey, payload: &[u8]) -> Result<Bundle, SignError> {
    Ok(Bundle {
        media_type: MEDIA_TYPE_V0_3.to_owned(),
        verification_material: VerificationMaterial {
            public_key: Some(PublicKeyIdentifier {
                hint: Some(key.public_key().hint()),
            }),
            x509_certificate_chain: None,
            certificate: None,
            tlog_entries: Vec::new(),
            timestamp_verification_data: None,
        },
        message_signature: None,
        dsse_envelope: Some(key.envelope(payload)?),
    })
}

/// Fails unless the DER certificate `leaf` certifies `key`'s public key.
pub fn check_certificate_key(key: &SigningKey, leaf: &[u8]) -> Result<(), SignError> {
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|_| SignError::BadCertificate("signing certificate"))?;
    match EcPublicKey::from_spki(cert.public_key()) {
        Ok(k) if &k == key.public_key() => Ok(()),
        _ => Err(SignError::CertificateKeyMismatch),
    }
}

/// The certificate signer's bundle: `x509CertificateChain` = leaf then `chain` (file order),
/// empty `tlogEntries`, the DSSE envelope. Refuses a leaf whose key is not `key`'s.
pub fn certificate_bundle(
    key: &SigningKey,
    leaf: &[u8],
    chain: &[Vec<u8>],
    payload: &[u8],
) -> Result<Bundle, SignError> {
    check_certificate_key(key, leaf)?;
    let certificates = std::iter::once(leaf)
        .chain(chain.iter().map(Vec::as_slice))
        .map(|der| BundleCertificate {
            raw_bytes: der.to_vec().into(),
        })
        .collect();
    Ok(Bundle {
        media_type: MEDIA_TYPE_V0_3.to_owned(),
        verification_material: VerificationMaterial {
            public_key: None,
            x509_certificate_chain: Some(X509CertificateChain { certificates }),
            certificate: None,
            tlog_entries: Vec::new(),
            timestamp_verification_data: None,
        },
        message_signature: None,
        dsse_envelope: Some(key.envelope(payload)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::SignatureVerifier;
    use crate::method::key::KeyVerifier;

    #[test]
    fn key_bundles_verify_with_the_key_method_on_every_curve() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let key = SigningKey::generate(curve).unwrap();
            let pem = crate::pem::python_pem("PRIVATE KEY", &key.to_pkcs8_der().unwrap());
            let key = SigningKey::from_pem(pem.as_bytes(), None).unwrap();
            let bundle = key_bundle(&key, b"{\"x\":1}").unwrap();
            let json = bundle.to_json();
            assert!(json.starts_with(
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""#
            ));
            let verifier = KeyVerifier::from_pem(key.public_key().python_pem().as_bytes()).unwrap();
            let env = verifier.verify_bundle(json.as_bytes()).unwrap();
            assert_eq!(env.payload, b"{\"x\":1}");
            assert!(env.warnings.is_empty());
            // Another key of the same curve: the hint no longer matches.
            let other = SigningKey::generate(curve).unwrap();
            let v2 = KeyVerifier::from_pem(other.public_key().python_pem().as_bytes()).unwrap();
            assert!(matches!(
                v2.verify_bundle(json.as_bytes()),
                Err(crate::method::key::KeyVerifyError::KeyMismatch)
            ));
        }
    }

    #[test]
    fn password_rules_follow_cryptography() {
        let key = SigningKey::generate(Curve::P256).unwrap();
        let pem = crate::pem::python_pem("PRIVATE KEY", &key.to_pkcs8_der().unwrap());
        assert_eq!(
            SigningKey::from_pem(pem.as_bytes(), Some(b"pw")).unwrap_err(),
            SignError::PasswordNotNeeded
        );
        let enc = crate::pem::python_pem("ENCRYPTED PRIVATE KEY", &[0x30, 0x00]);
        assert_eq!(
            SigningKey::from_pem(enc.as_bytes(), None).unwrap_err(),
            SignError::PasswordNeeded
        );
        assert_eq!(
            SigningKey::from_pem(b"nothing", None).unwrap_err(),
            SignError::NoPem
        );
        let cert = crate::pem::python_pem("CERTIFICATE", &[0x30, 0x00]);
        assert!(matches!(
            SigningKey::from_pem(cert.as_bytes(), None).unwrap_err(),
            SignError::NotAPrivateKey(_)
        ));
    }

    #[test]
    fn unusable_private_keys_are_explained() {
        use aws_lc_rs::encoding::AsDer;
        let k1 = EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256K1_SHA256_ASN1_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let pem = crate::pem::python_pem("PRIVATE KEY", k1.as_ref());
        assert_eq!(
            SigningKey::from_pem(pem.as_bytes(), None).unwrap_err(),
            SignError::Key(KeyError::UnsupportedCurve("secp256k1".to_owned()))
        );
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa).unwrap();
        let pem = crate::pem::python_pem("PRIVATE KEY", der.as_ref());
        assert_eq!(
            SigningKey::from_pem(pem.as_bytes(), None).unwrap_err(),
            SignError::Key(KeyError::NotEc("RSA".to_owned()))
        );
        let junk = crate::pem::python_pem("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
        assert_eq!(
            SigningKey::from_pem(junk.as_bytes(), None).unwrap_err(),
            SignError::BadKey
        );
    }

    #[test]
    fn der_reader_handles_long_lengths_and_truncation() {
        let long = crate::der::der_tlv(0x04, &[7u8; 300]);
        let (tag, content, rest) = der_read(&long).unwrap();
        assert_eq!((tag, content.len(), rest.len()), (0x04, 300, 0));
        assert!(der_read(&long[..long.len() - 1]).is_none());
        assert!(der_read(&[0x30]).is_none());
    }
}
