//! A test-only Sigstore: our own Fulcio-like CA (root + intermediate), CT log and Rekor logs,
//! minting Sigstore bundles (DSSE envelope, Rekor v1 `dsse` 0.0.1 entry with SET, Merkle
//! inclusion proof and signed checkpoint, Fulcio-style leaf with an embedded SCT) and the
//! matching trusted root. Every knob in [`Mint`] changes one thing, for the negatives a genuine
//! public-good bundle cannot express.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
    SerialNumber, SigningKey, date_time_ymd,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

/// 2025-01-01T00:00:00Z.
pub const T0: i64 = 1_735_689_600;
pub const IDENTITY: &str = "alice@example.com";
pub const ISSUER: &str = "https://oidc.mini-sigstore.test";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const ORIGIN: &str = "mini-rekor.test - 4242";

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn set_validity(p: &mut CertificateParams, not_before: i64, not_after: i64) {
    let epoch = date_time_ymd(1970, 1, 1);
    p.not_before = epoch + Duration::from_secs(not_before as u64);
    p.not_after = epoch + Duration::from_secs(not_after as u64);
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "mini-sigstore.test");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut p, T0 - 365 * 86400, T0 + 10 * 365 * 86400);
    p
}

/// A certificate authority: its certificate and an issuer handle.
pub struct Ca {
    pub der: Vec<u8>,
    pub key: KeyPair,
    pub params: CertificateParams,
}

impl Ca {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
    pub fn spki(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }
}

/// A log (Rekor or CT): a P-256 key whose log ID is SHA-256 of its SPKI.
pub struct Log {
    pub key: KeyPair,
}

impl Log {
    fn new() -> Self {
        Self {
            key: KeyPair::generate().unwrap(),
        }
    }
    pub fn spki(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }
    pub fn log_id(&self) -> [u8; 32] {
        sha256(&self.spki())
    }
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.key.sign(msg).unwrap()
    }
    fn instance(&self, url: &str) -> Value {
        json!({
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(&self.spki()),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": { "start": "2020-01-01T00:00:00Z" }
            },
            "logId": { "keyId": b64(&self.log_id()) }
        })
    }
}

/// Our Sigstore: root CA, intermediate CA (issues leaves), CT log, two Rekor logs (the second
/// one trusted too, to show a checkpoint must come from the entry's own log), and a stranger CA
/// and log nobody trusts.
pub struct MiniSigstore {
    pub root: Ca,
    pub intermediate: Ca,
    pub stranger_ca: Ca,
    pub ct: Log,
    pub rekor: Log,
    pub rekor_b: Log,
    pub stranger_log: Log,
    /// The Rekor v2 log (hashedrekord 0.0.2 entries, no SET).
    pub rekor_v2: Log,
    /// Trusted TSA (EKU timeStamping, critical).
    pub tsa: Tsa,
    /// Trusted TSA whose EKU extension is not critical (sigstore-python does not count it).
    pub tsa_lax: Tsa,
    /// A TSA nobody trusts.
    pub tsa_stranger: Tsa,
}

/// Which TSA stamps the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsaChoice {
    None,
    Trusted,
    Lax,
    Stranger,
}

/// A timestamp authority: a root and a leaf with EKU timeStamping.
pub struct Tsa {
    pub root: Ca,
    pub leaf_der: Vec<u8>,
    pub leaf_key: KeyPair,
}

impl Tsa {
    fn new(name: &str, eku_critical: bool) -> Self {
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca_params(&format!("{name} root"));
        let root_der = root_params.self_signed(&root_key).unwrap().der().to_vec();
        let leaf_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.serial_number = Some(SerialNumber::from(0x75a_u64));
        set_validity(&mut p, T0 - 86400, T0 + 5 * 365 * 86400);
        p.is_ca = IsCa::NoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // EKU timeStamping, as a custom extension to control its criticality.
        let mut eku = CustomExtension::from_oid_content(
            &[2, 5, 29, 37],
            der(0x30, &oid(&[1, 3, 6, 1, 5, 5, 7, 3, 8])),
        );
        eku.set_criticality(eku_critical);
        p.custom_extensions.push(eku);
        let leaf_der = p
            .signed_by(&leaf_key, &Issuer::from_params(&root_params, &root_key))
            .unwrap()
            .der()
            .to_vec();
        Self {
            root: Ca {
                der: root_der,
                key: root_key,
                params: root_params,
            },
            leaf_der,
            leaf_key,
        }
    }

    fn authority(&self) -> Value {
        json!({
            "subject": { "organization": "mini-sigstore.test", "commonName": "mini-tsa" },
            "uri": "https://tsa.mini-sigstore.test",
            "certChain": { "certificates": [
                { "rawBytes": b64(&self.leaf_der) },
                { "rawBytes": b64(&self.root.der) }
            ] },
            "validFor": { "start": "2020-01-01T00:00:00Z" }
        })
    }

    /// An RFC 3161 TimeStampResp over `signature` (SHA-256 message imprint) at `gen_time`.
    pub fn stamp(&self, signature: &[u8], gen_time: i64, signer_infos: usize) -> Vec<u8> {
        let tst_info = der(
            0x30,
            &[
                der(0x02, &[1]),
                oid(&[1, 3, 6, 1, 4, 1, 57264, 99, 1]),
                der(
                    0x30,
                    &[
                        der(0x30, &oid(&[2, 16, 840, 1, 101, 3, 4, 2, 1])),
                        der(0x04, &sha256(signature)),
                    ]
                    .concat(),
                ),
                der(0x02, &[0x11, 0x22, 0x33]),
                der(0x18, generalized_time(gen_time).as_bytes()),
            ]
            .concat(),
        );
        let id_ct_tst_info = oid(&[1, 2, 840, 113549, 1, 9, 16, 1, 4]);
        let encap = der(
            0x30,
            &[id_ct_tst_info.clone(), der(0xa0, &der(0x04, &tst_info))].concat(),
        );
        let mut attrs = [
            der(
                0x30,
                &[
                    oid(&[1, 2, 840, 113549, 1, 9, 3]),
                    der(0x31, &id_ct_tst_info),
                ]
                .concat(),
            ),
            der(
                0x30,
                &[
                    oid(&[1, 2, 840, 113549, 1, 9, 4]),
                    der(0x31, &der(0x04, &sha256(&tst_info))),
                ]
                .concat(),
            ),
        ];
        attrs.sort();
        let attrs = attrs.concat();
        let sig = self.leaf_key.sign(&der(0x31, &attrs)).unwrap();
        let (_, leaf) = X509Certificate::from_der(&self.leaf_der).unwrap();
        let sid = der(
            0x30,
            &[
                leaf.tbs_certificate.issuer.as_raw().to_vec(),
                der(0x02, leaf.tbs_certificate.raw_serial()),
            ]
            .concat(),
        );
        let signer_info = der(
            0x30,
            &[
                der(0x02, &[1]),
                sid,
                der(0x30, &oid(&[2, 16, 840, 1, 101, 3, 4, 2, 1])),
                der(0xa0, &attrs),
                der(0x30, &oid(&[1, 2, 840, 10045, 4, 3, 2])),
                der(0x04, &sig),
            ]
            .concat(),
        );
        let signed_data = der(
            0x30,
            &[
                der(0x02, &[3]),
                der(0x31, &der(0x30, &oid(&[2, 16, 840, 1, 101, 3, 4, 2, 1]))),
                encap,
                der(0xa0, &self.leaf_der),
                der(0x31, &signer_info.repeat(signer_infos)),
            ]
            .concat(),
        );
        let content_info = der(
            0x30,
            &[oid(&[1, 2, 840, 113549, 1, 7, 2]), der(0xa0, &signed_data)].concat(),
        );
        der(0x30, &[der(0x30, &der(0x02, &[0])), content_info].concat())
    }
}

/// DER OBJECT IDENTIFIER.
pub fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut tmp = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        body.extend(tmp);
    }
    der(0x06, &body)
}

/// `YYYYMMDDHHMMSSZ` for unix seconds.
pub fn generalized_time(unix: i64) -> String {
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// What to mint. `Mint::default()` is a bundle the verifier must accept; each field changes one
/// thing.
#[derive(Clone)]
pub struct Mint {
    pub sans: Vec<SanType>,
    /// Raw value of extension 1.3.6.1.4.1.57264.1.1.
    pub issuer_v1: Option<String>,
    /// DER UTF8String in extension 1.3.6.1.4.1.57264.1.8.
    pub issuer_v2: Option<String>,
    pub key_usages: Vec<KeyUsagePurpose>,
    pub ekus: Vec<ExtendedKeyUsagePurpose>,
    pub leaf_is_ca: bool,
    /// Issue the leaf from the untrusted stranger CA.
    pub untrusted_issuer: bool,
    /// Number of SCTs in the SCT list (Fulcio embeds exactly one).
    pub scts: usize,
    /// Two SCT-list extensions.
    pub duplicate_sct_extension: bool,
    /// Sign the SCT with the stranger log's key.
    pub sct_by_stranger: bool,
    /// Compute the SCT's issuer key hash from the root instead of the intermediate.
    pub sct_wrong_issuer_hash: bool,
    pub not_before: i64,
    pub not_after: i64,
    pub integrated_time: i64,
    pub payload: Vec<u8>,
    pub payload_type: String,
    /// Sign the DSSE envelope with a key that is not the leaf's.
    pub dsse_by_other_key: bool,
    /// Changes the Rekor body before the log "integrates" it (SET, tree and checkpoint are
    /// computed over the changed body: only the body-binding check can catch it).
    pub body: Option<fn(&mut Value)>,
    /// The checkpoint is signed by the second trusted Rekor log instead of the entry's log.
    pub checkpoint_by_other_log: bool,
    /// The checkpoint is signed by an untrusted key.
    pub checkpoint_by_stranger: bool,
    /// The checkpoint names a different root hash (correctly signed).
    pub checkpoint_wrong_root: bool,
    /// The SET is signed by the second trusted Rekor log.
    pub set_by_other_log: bool,
    /// Leave the inclusion promise out.
    pub no_promise: bool,
    /// Log the entry in the Rekor v2 log as `hashedrekord` 0.0.2 (no SET, no integratedTime).
    pub rekor_v2: bool,
    /// Changes the v2 body before the log integrates it.
    pub body_v2: Option<fn(&mut Value)>,
    /// Who stamps the signature (RFC 3161).
    pub tsa: TsaChoice,
    /// genTime of the stamp (default: `integrated_time`).
    pub tsa_time: Option<i64>,
    /// Stamp another signature.
    pub tsa_over_other_signature: bool,
    /// Two SignerInfos in the stamp.
    pub tsa_two_signer_infos: bool,
}

pub fn statement(digest: &[u8; 32]) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": "model", "digest": { "sha256": hex::encode(digest) } }],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {
            "serialization": { "method": "files", "hash_type": "sha256", "allow_symlinks": false },
            "resources": []
        }
    }))
    .unwrap()
}

impl Default for Mint {
    fn default() -> Self {
        Self {
            sans: vec![SanType::Rfc822Name(IDENTITY.try_into().unwrap())],
            issuer_v1: Some(ISSUER.into()),
            issuer_v2: Some(ISSUER.into()),
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
            ekus: vec![ExtendedKeyUsagePurpose::CodeSigning],
            leaf_is_ca: false,
            untrusted_issuer: false,
            scts: 1,
            duplicate_sct_extension: false,
            sct_by_stranger: false,
            sct_wrong_issuer_hash: false,
            not_before: T0,
            not_after: T0 + 600,
            integrated_time: T0 + 60,
            payload: statement(&[7u8; 32]),
            payload_type: PAYLOAD_TYPE.into(),
            dsse_by_other_key: false,
            body: None,
            checkpoint_by_other_log: false,
            checkpoint_by_stranger: false,
            checkpoint_wrong_root: false,
            set_by_other_log: false,
            no_promise: false,
            rekor_v2: false,
            body_v2: None,
            tsa: TsaChoice::None,
            tsa_time: None,
            tsa_over_other_signature: false,
            tsa_two_signer_infos: false,
        }
    }
}

/// DER length prefix.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else if n < 0x100 {
        vec![0x81, n as u8]
    } else {
        vec![0x82, (n >> 8) as u8, n as u8]
    }
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(body.len()));
    out.extend_from_slice(body);
    out
}

const OID_SCT_LIST: [u64; 10] = [1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
const OID_ISSUER_V1: [u64; 9] = [1, 3, 6, 1, 4, 1, 57264, 1, 1];
const OID_ISSUER_V2: [u64; 9] = [1, 3, 6, 1, 4, 1, 57264, 1, 8];

/// RFC 6962 Merkle tree hash over leaf hashes.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(b""),
        1 => leaves[0],
        n => {
            let k = split(n);
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 audit path for leaf `m`.
fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

pub fn pem(der: &[u8]) -> String {
    let b = b64(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for c in b.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(c).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

impl MiniSigstore {
    pub fn new() -> Self {
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca_params("mini-sigstore root");
        let root_der = root_params.self_signed(&root_key).unwrap().der().to_vec();
        let inter_key = KeyPair::generate().unwrap();
        let inter_params = ca_params("mini-sigstore-intermediate");
        let inter_der = inter_params
            .signed_by(&inter_key, &Issuer::from_params(&root_params, &root_key))
            .unwrap()
            .der()
            .to_vec();
        let stranger_key = KeyPair::generate().unwrap();
        let stranger_params = ca_params("stranger");
        let stranger_der = stranger_params
            .self_signed(&stranger_key)
            .unwrap()
            .der()
            .to_vec();
        Self {
            root: Ca {
                der: root_der,
                key: root_key,
                params: root_params,
            },
            intermediate: Ca {
                der: inter_der,
                key: inter_key,
                params: inter_params,
            },
            stranger_ca: Ca {
                der: stranger_der,
                key: stranger_key,
                params: stranger_params,
            },
            ct: Log::new(),
            rekor: Log::new(),
            rekor_b: Log::new(),
            stranger_log: Log::new(),
            rekor_v2: Log::new(),
            tsa: Tsa::new("mini-tsa", true),
            tsa_lax: Tsa::new("mini-tsa-lax", false),
            tsa_stranger: Tsa::new("stranger-tsa", true),
        }
    }

    /// The trusted root for this instance (bare `trusted_root.json`).
    pub fn trusted_root(&self) -> Value {
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [
                self.rekor.instance("https://rekor.mini-sigstore.test"),
                self.rekor_b.instance("https://rekor-b.mini-sigstore.test"),
                self.rekor_v2.instance("https://log2025.rekor.mini-sigstore.test")
            ],
            "certificateAuthorities": [{
                "subject": { "organization": "mini-sigstore.test", "commonName": "mini-sigstore root" },
                "uri": "https://fulcio.mini-sigstore.test",
                "certChain": { "certificates": [
                    { "rawBytes": b64(&self.intermediate.der) },
                    { "rawBytes": b64(&self.root.der) }
                ] },
                "validFor": { "start": "2020-01-01T00:00:00Z" }
            }],
            "ctlogs": [ self.ct.instance("https://ctfe.mini-sigstore.test") ],
            "timestampAuthorities": [ self.tsa.authority(), self.tsa_lax.authority() ]
        })
    }

    /// A ClientTrustConfig wrapping [`Self::trusted_root`].
    pub fn client_trust_config(&self) -> Value {
        json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": self.trusted_root(),
            "signingConfig": { "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json" }
        })
    }

    fn leaf_params(&self, m: &Mint) -> CertificateParams {
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.serial_number = Some(SerialNumber::from(0x5157_0000_1234_u64));
        set_validity(&mut p, m.not_before, m.not_after);
        p.subject_alt_names = m.sans.clone();
        p.is_ca = if m.leaf_is_ca {
            IsCa::Ca(BasicConstraints::Unconstrained)
        } else {
            IsCa::NoCa
        };
        p.key_usages = m.key_usages.clone();
        p.extended_key_usages = m.ekus.clone();
        p.use_authority_key_identifier_extension = true;
        if let Some(i) = &m.issuer_v1 {
            p.custom_extensions.push(CustomExtension::from_oid_content(
                &OID_ISSUER_V1,
                i.as_bytes().to_vec(),
            ));
        }
        if let Some(i) = &m.issuer_v2 {
            p.custom_extensions.push(CustomExtension::from_oid_content(
                &OID_ISSUER_V2,
                der(0x0c, i.as_bytes()),
            ));
        }
        p
    }

    /// Mints the leaf (with embedded SCTs); returns (leaf DER, leaf key).
    fn mint_leaf(&self, m: &Mint) -> (Vec<u8>, KeyPair) {
        let leaf_key = KeyPair::generate().unwrap();
        let ca = if m.untrusted_issuer {
            &self.stranger_ca
        } else {
            &self.intermediate
        };
        let params = self.leaf_params(m);
        let precert = params
            .signed_by(&leaf_key, &ca.issuer())
            .unwrap()
            .der()
            .to_vec();
        let (_, parsed) = X509Certificate::from_der(&precert).unwrap();
        let tbs = parsed.tbs_certificate.as_ref().to_vec();
        let issuer_spki = if m.sct_wrong_issuer_hash {
            self.root.spki()
        } else {
            ca.spki()
        };
        let issuer_hash = sha256(&issuer_spki);
        let ct = if m.sct_by_stranger {
            &self.stranger_log
        } else {
            &self.ct
        };
        let timestamp_ms = (m.not_before as u64) * 1000;
        let mut list = Vec::new();
        for _ in 0..m.scts {
            let mut signed = vec![0u8, 0u8];
            signed.extend(timestamp_ms.to_be_bytes());
            signed.extend(1u16.to_be_bytes());
            signed.extend(issuer_hash);
            let len = tbs.len() as u32;
            signed.extend(&len.to_be_bytes()[1..]);
            signed.extend(&tbs);
            signed.extend(0u16.to_be_bytes());
            let sig = ct.sign(&signed);
            let mut sct = vec![0u8];
            sct.extend(ct.log_id());
            sct.extend(timestamp_ms.to_be_bytes());
            sct.extend(0u16.to_be_bytes());
            sct.extend([4u8, 3u8]);
            sct.extend((sig.len() as u16).to_be_bytes());
            sct.extend(sig);
            list.extend((sct.len() as u16).to_be_bytes());
            list.extend(sct);
        }
        let mut tls = (list.len() as u16).to_be_bytes().to_vec();
        tls.extend(list);
        let mut final_params = params;
        let ext = der(0x04, &tls);
        if m.scts > 0 || m.duplicate_sct_extension {
            final_params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    &OID_SCT_LIST,
                    ext.clone(),
                ));
        }
        if m.duplicate_sct_extension {
            final_params
                .custom_extensions
                .push(CustomExtension::from_oid_content(&OID_SCT_LIST, ext));
        }
        let leaf = final_params
            .signed_by(&leaf_key, &ca.issuer())
            .unwrap()
            .der()
            .to_vec();
        (leaf, leaf_key)
    }

    /// Mints a complete v0.3 bundle.
    pub fn mint(&self, m: &Mint) -> Value {
        let (leaf, leaf_key) = self.mint_leaf(m);
        let pae = pae(&m.payload_type, &m.payload);
        let sig = if m.dsse_by_other_key {
            KeyPair::generate().unwrap().sign(&pae).unwrap()
        } else {
            leaf_key.sign(&pae).unwrap()
        };
        let envelope = json!({
            "payload": b64(&m.payload),
            "payloadType": m.payload_type,
            "signatures": [{ "sig": b64(&sig), "keyid": "" }]
        });
        let (kind_version, body, log) = if m.rekor_v2 {
            let mut body = json!({
                "apiVersion": "0.0.2",
                "kind": "hashedrekord",
                "spec": { "hashedRekordV002": {
                    "data": { "algorithm": "SHA2_256", "digest": b64(&sha256(&pae)) },
                    "signature": {
                        "content": b64(&sig),
                        "verifier": {
                            "x509Certificate": { "rawBytes": b64(&leaf) },
                            "keyDetails": "PKIX_ECDSA_P256_SHA_256"
                        }
                    }
                } }
            });
            if let Some(f) = m.body_v2 {
                f(&mut body);
            }
            (
                json!({ "kind": "hashedrekord", "version": "0.0.2" }),
                serde_json::to_vec(&body).unwrap(),
                &self.rekor_v2,
            )
        } else {
            let mut body = json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": { "algorithm": "sha256", "value": hex::encode(sha256(envelope.to_string().as_bytes())) },
                    "payloadHash": { "algorithm": "sha256", "value": hex::encode(sha256(&m.payload)) },
                    "signatures": [{ "signature": b64(&sig), "verifier": b64(pem(&leaf).as_bytes()) }]
                }
            });
            if let Some(f) = m.body {
                f(&mut body);
            }
            (
                json!({ "kind": "dsse", "version": "0.0.1" }),
                serde_json::to_vec(&body).unwrap(),
                &self.rekor,
            )
        };

        // The log: five entries, ours at shard index 3; Rekor v1 global index 1000 + 3
        // (Rekor v2 indexes are shard-local).
        let mut leaves: Vec<[u8; 32]> = (0..5u8).map(|i| leaf_hash(&[i; 16])).collect();
        let index = 3usize;
        leaves[index] = leaf_hash(&body);
        let root = mth(&leaves);
        let proof = path(index, &leaves);
        let log_index = if m.rekor_v2 {
            index as u64
        } else {
            1000 + index as u64
        };

        let cp_root = if m.checkpoint_wrong_root {
            sha256(b"another tree")
        } else {
            root
        };
        let note = format!("{ORIGIN}\n{}\n{}\n", leaves.len(), b64(&cp_root));
        let cp_log = if m.checkpoint_by_other_log {
            &self.rekor_b
        } else if m.checkpoint_by_stranger {
            &self.stranger_log
        } else {
            log
        };
        let mut hint_sig = log.log_id()[..4].to_vec();
        if m.checkpoint_by_other_log {
            hint_sig = self.rekor_b.log_id()[..4].to_vec();
        }
        hint_sig.extend(cp_log.sign(note.as_bytes()));
        let checkpoint = format!("{note}\n\u{2014} mini-rekor.test {}\n", b64(&hint_sig));

        let mut entry = json!({
            "logIndex": log_index.to_string(),
            "logId": { "keyId": b64(&log.log_id()) },
            "kindVersion": kind_version,
            "inclusionProof": {
                "logIndex": index.to_string(),
                "rootHash": b64(&root),
                "treeSize": leaves.len().to_string(),
                "hashes": proof.iter().map(|h| b64(h)).collect::<Vec<_>>(),
                "checkpoint": { "envelope": checkpoint }
            },
            "canonicalizedBody": b64(&body)
        });
        if !m.rekor_v2 {
            let set_payload = format!(
                "{{\"body\":\"{}\",\"integratedTime\":{},\"logID\":\"{}\",\"logIndex\":{}}}",
                b64(&body),
                m.integrated_time,
                hex::encode(log.log_id()),
                log_index
            );
            let set_log = if m.set_by_other_log {
                &self.rekor_b
            } else {
                log
            };
            let set = set_log.sign(set_payload.as_bytes());
            entry["integratedTime"] = json!(m.integrated_time.to_string());
            if !m.no_promise {
                entry["inclusionPromise"] = json!({ "signedEntryTimestamp": b64(&set) });
            }
        }

        let mut tvd = json!({});
        let tsa = match m.tsa {
            TsaChoice::None => None,
            TsaChoice::Trusted => Some(&self.tsa),
            TsaChoice::Lax => Some(&self.tsa_lax),
            TsaChoice::Stranger => Some(&self.tsa_stranger),
        };
        if let Some(tsa) = tsa {
            let stamped: &[u8] = if m.tsa_over_other_signature {
                b"another signature"
            } else {
                &sig
            };
            let token = tsa.stamp(
                stamped,
                m.tsa_time.unwrap_or(m.integrated_time),
                if m.tsa_two_signer_infos { 2 } else { 1 },
            );
            tvd = json!({ "rfc3161Timestamps": [{ "signedTimestamp": b64(&token) }] });
        }
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": { "rawBytes": b64(&leaf) },
                "tlogEntries": [entry],
                "timestampVerificationData": tvd
            },
            "dsseEnvelope": envelope
        })
    }
}

pub fn b64_decode(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}
