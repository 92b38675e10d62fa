//! Shared helpers of the key/certificate integration tests: the Python `model_signing` peer,
//! test models, certificate chains made with rcgen, and running both command lines.

use std::path::Path;
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, date_time_ymd,
};

pub use super::BIN;
pub use super::python::{Output, Python};
pub const PREFIX: &str = "Verification failed with error: ";

/// Runs `model-verifier <args>` in `cwd`.
pub fn ours(cwd: &Path, args: &[&str]) -> Output {
    Output::from(
        Command::new(BIN)
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap(),
    )
}

/// Writes `files` (relative name → content) under `root`.
pub fn write_model(root: &Path, files: &[(&str, Vec<u8>)]) {
    for (name, content) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// Deterministic pseudo-random bytes (xorshift), so large models need no RNG crate.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A one-file model.
pub fn tiny_model() -> Vec<(&'static str, Vec<u8>)> {
    vec![("weights.bin", b"tiny".to_vec())]
}

/// Nested directories, Unicode and awkward names, an empty file, a hidden file.
pub fn nested_unicode_model() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("A.txt", b"upper".to_vec()),
        ("a/x.txt", b"a/x".to_vec()),
        ("a b/x.txt", b"space".to_vec()),
        ("a-b.txt", b"dash".to_vec()),
        ("a.txt", b"dot".to_vec()),
        ("d1/d2/d3/deep.bin", noise(1000, 3)),
        ("emoji 🤖.json", br#"{"robot": true}"#.to_vec()),
        ("z/ends with space .txt", b"trailing".to_vec()),
        ("é/ü/naïve file.txt", "naïve".as_bytes().to_vec()),
        ("日本語/モデル.bin", noise(4096, 7)),
        ("empty.bin", Vec::new()),
        (".hidden", b"hidden".to_vec()),
        ("weights/nested/.gitattributes", b"* binary".to_vec()),
        ("weights.txt", b"not a dir".to_vec()),
    ]
}

/// A few MiB: a 3 MiB weights file plus small files.
pub fn large_model() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("config.json", br#"{"layers": 2}"#.to_vec()),
        ("model-00001-of-00002.safetensors", noise(3 << 20, 11)),
        (
            "model-00002-of-00002.safetensors",
            noise((1 << 20) + 17, 13),
        ),
        ("tokenizer/vocab.txt", b"a\nb\nc\n".to_vec()),
    ]
}

/// The rcgen algorithm for a curve name.
pub fn rcgen_alg(curve: &str) -> &'static rcgen::SignatureAlgorithm {
    match curve {
        "P256" => &rcgen::PKCS_ECDSA_P256_SHA256,
        "P384" => &rcgen::PKCS_ECDSA_P384_SHA384,
        "P521" => &rcgen::PKCS_ECDSA_P521_SHA512,
        "ED25519" => &rcgen::PKCS_ED25519,
        other => panic!("unknown curve {other}"),
    }
}

/// How one certificate of a test chain is made.
#[derive(Debug, Clone)]
pub struct CertSpec {
    pub cn: String,
    pub curve: &'static str,
    pub is_ca: IsCa,
    pub key_usages: Vec<KeyUsagePurpose>,
    pub ekus: Vec<ExtendedKeyUsagePurpose>,
    pub not_before: (i32, u8, u8),
    pub not_after: (i32, u8, u8),
}

impl CertSpec {
    pub fn root(cn: &str) -> Self {
        Self {
            cn: cn.into(),
            curve: "P384",
            is_ca: IsCa::Ca(BasicConstraints::Unconstrained),
            key_usages: vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
            ekus: vec![],
            not_before: (2024, 1, 1),
            not_after: (2040, 1, 1),
        }
    }

    pub fn intermediate(cn: &str) -> Self {
        Self {
            curve: "P256",
            not_before: (2024, 6, 1),
            not_after: (2039, 1, 1),
            ..Self::root(cn)
        }
    }

    pub fn leaf(cn: &str, curve: &'static str) -> Self {
        Self {
            cn: cn.into(),
            curve,
            is_ca: IsCa::NoCa,
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
            ekus: vec![ExtendedKeyUsagePurpose::CodeSigning],
            not_before: (2025, 1, 1),
            not_after: (2030, 1, 1),
        }
    }

    pub fn params(&self) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, self.cn.clone());
        p.distinguished_name = dn;
        p.is_ca = self.is_ca;
        p.key_usages = self.key_usages.clone();
        p.extended_key_usages = self.ekus.clone();
        let (y, m, d) = self.not_before;
        p.not_before = date_time_ymd(y, m, d);
        let (y, m, d) = self.not_after;
        p.not_after = date_time_ymd(y, m, d);
        p.use_authority_key_identifier_extension = true;
        p
    }
}

/// A root → intermediate → leaf chain, PEM everywhere.
pub struct Chain {
    pub root_pem: String,
    pub intermediate_pem: String,
    pub leaf_pem: String,
    pub leaf_key_pem: String,
}

impl Chain {
    pub fn new(root: &CertSpec, intermediate: &CertSpec, leaf: &CertSpec) -> Self {
        let root_key = KeyPair::generate_for(rcgen_alg(root.curve)).unwrap();
        let root = CertifiedIssuer::self_signed(root.params(), root_key).unwrap();
        let int_key = KeyPair::generate_for(rcgen_alg(intermediate.curve)).unwrap();
        let int = CertifiedIssuer::signed_by(intermediate.params(), int_key, &root).unwrap();
        let leaf_key = KeyPair::generate_for(rcgen_alg(leaf.curve)).unwrap();
        let leaf_cert = leaf.params().signed_by(&leaf_key, &int).unwrap();
        Self {
            root_pem: root.pem(),
            intermediate_pem: int.pem(),
            leaf_pem: leaf_cert.pem(),
            leaf_key_pem: leaf_key.serialize_pem(),
        }
    }

    /// The usual shape: P-384 root, P-256 intermediate, leaf on `curve`.
    pub fn standard(curve: &'static str) -> Self {
        Self::new(
            &CertSpec::root("Interop Root CA"),
            &CertSpec::intermediate("Interop Intermediate CA"),
            &CertSpec::leaf("model signer", curve),
        )
    }

    /// Writes `root.pem`, `intermediate.pem`, `leaf.pem`, `leaf.key` into `dir`.
    pub fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("root.pem"), &self.root_pem).unwrap();
        std::fs::write(dir.join("intermediate.pem"), &self.intermediate_pem).unwrap();
        std::fs::write(dir.join("leaf.pem"), &self.leaf_pem).unwrap();
        std::fs::write(dir.join("leaf.key"), &self.leaf_key_pem).unwrap();
    }
}

/// An EC key pair as PEM files `<stem>.key` (PKCS#8) and `<stem>.pub`, made by our signer.
pub fn rust_key_pair(dir: &Path, stem: &str, curve: model_verifier::keys::Curve) {
    let key = model_verifier::sign::SigningKey::generate(curve).unwrap();
    let pem = model_verifier::pem::python_pem("PRIVATE KEY", &key.to_pkcs8_der().unwrap());
    std::fs::write(dir.join(format!("{stem}.key")), pem).unwrap();
    std::fs::write(
        dir.join(format!("{stem}.pub")),
        key.public_key().python_pem(),
    )
    .unwrap();
}
