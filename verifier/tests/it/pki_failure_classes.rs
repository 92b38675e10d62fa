//! Each failure class of the key and certificate methods (`model-signing-format.md` §6.1,
//! §6.2), with certificates generated at test time (rcgen): the binary must give the expected
//! exit code and message, and the Python `model_signing` 1.1.1 peer must give the same exit code
//! on the same files (a missing peer fails the tests).

use crate::support::key_cert_fixtures as fixtures;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fixtures::{CertSpec, Output, Python, ours, rcgen_alg, tiny_model, write_model};
use model_verifier::dsse;
use model_verifier::keys::Curve;
use model_verifier::model::{ModelSpec, signing_payload};
use model_verifier::sign::{self, SigningKey};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, ExtendedKeyUsagePurpose,
    IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::Value;

/// A generated PKI: root → intermediate → leaf, plus the leaf's key for our signer.
struct Pki {
    root_pem: String,
    intermediate_pem: String,
    leaf_der: Vec<u8>,
    leaf_key: Option<SigningKey>,
    /// The root's key pair (to forge a twin of the root with the same public key).
    root_key: KeyPair,
}

fn curve_of(name: &str) -> Option<Curve> {
    match name {
        "P256" => Some(Curve::P256),
        "P384" => Some(Curve::P384),
        "P521" => Some(Curve::P521),
        _ => None,
    }
}

/// Builds the chain; the three closures may change each certificate's parameters.
fn pki(
    root: CertSpec,
    intermediate: CertSpec,
    leaf: CertSpec,
    tweak: impl Fn(&mut CertificateParams, &mut CertificateParams, &mut CertificateParams),
) -> Pki {
    let (mut rp, mut ip, mut lp) = (root.params(), intermediate.params(), leaf.params());
    tweak(&mut rp, &mut ip, &mut lp);
    let root_key = KeyPair::generate_for(rcgen_alg(root.curve)).unwrap();
    let root_ca = CertifiedIssuer::self_signed(rp, root_key).unwrap();
    let root_key = KeyPair::from_pem(&root_ca.key().serialize_pem()).unwrap();
    let int_key = KeyPair::generate_for(rcgen_alg(intermediate.curve)).unwrap();
    let int_ca = CertifiedIssuer::signed_by(ip, int_key, &root_ca).unwrap();
    let leaf_key = KeyPair::generate_for(rcgen_alg(leaf.curve)).unwrap();
    let leaf_cert = lp.signed_by(&leaf_key, &int_ca).unwrap();
    Pki {
        root_pem: root_ca.pem(),
        intermediate_pem: int_ca.pem(),
        leaf_der: leaf_cert.der().to_vec(),
        leaf_key: curve_of(leaf.curve)
            .map(|_| SigningKey::from_der(&leaf_key.serialize_der()).unwrap()),
        root_key,
    }
}

/// A forged twin of the root: the same subject and public key, but the forger's own validity
/// (2015–2040), no constraints, keyCertSign, and signed by the forger's key (anchors' own
/// signatures are not checked, so the key does not matter). No authority key identifier, so it
/// reads as self-signed.
fn forged_root(cn: &str, root_key: &KeyPair) -> String {
    let mut spec = CertSpec::root(cn);
    spec.not_before = (2015, 1, 1);
    spec.not_after = (2040, 1, 1);
    let mut params = spec.params();
    params.use_authority_key_identifier_extension = false;
    let forger_key = KeyPair::generate_for(rcgen_alg("P384")).unwrap();
    let forger = CertifiedIssuer::self_signed(CertSpec::root(cn).params(), forger_key).unwrap();
    params.signed_by(root_key, &forger).unwrap().pem()
}

fn standard() -> (CertSpec, CertSpec, CertSpec) {
    (
        CertSpec::root("Failure Root"),
        CertSpec::intermediate("Failure Intermediate"),
        CertSpec::leaf("failure leaf", "P256"),
    )
}

fn no_tweak(_: &mut CertificateParams, _: &mut CertificateParams, _: &mut CertificateParams) {}

fn no_change(_: &mut CertSpec, _: &mut CertSpec, _: &mut CertSpec) {}

/// Changes the specs of the standard root, intermediate and leaf.
type SpecChange = fn(&mut CertSpec, &mut CertSpec, &mut CertSpec);
/// Changes the generated parameters of the root, intermediate and leaf.
type ParamsChange = fn(&mut CertificateParams, &mut CertificateParams, &mut CertificateParams);

/// One row of a table of chain cases: the standard root → intermediate → leaf with `specs` and
/// `params` applied, the bundle carrying the intermediate and the root trusted; `failure` is
/// the expected message prefix (`None`: it verifies). Python must agree on the exit code.
struct ChainCase {
    what: &'static str,
    specs: SpecChange,
    params: ParamsChange,
    failure: Option<&'static str>,
}

impl ChainCase {
    const fn new(what: &'static str, specs: SpecChange, failure: Option<&'static str>) -> Self {
        Self {
            what,
            specs,
            params: no_tweak,
            failure,
        }
    }
}

fn run_chain_cases(py: &Python, cases: &[ChainCase]) {
    for c in cases {
        let (mut r, mut i, mut l) = standard();
        (c.specs)(&mut r, &mut i, &mut l);
        let p = pki(r, i, l, c.params);
        let case = standard_case(&p, &[&p.intermediate_pem], &[&p.root_pem]);
        expect(
            &case,
            py,
            c.what,
            c.failure.is_none(),
            c.failure.unwrap_or(""),
        );
    }
}

/// A case directory: model `m`, `model.sig`, `trust.pem`.
struct Case {
    tmp: tempfile::TempDir,
    payload: Vec<u8>,
}

impl Case {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        write_model(&tmp.path().join("m"), &tiny_model());
        let payload = signing_payload(&ModelSpec::new(tmp.path().join("m")))
            .unwrap()
            .payload;
        Self { tmp, payload }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// A certificate bundle: `chain` after the leaf, signed by `signer` (normally the leaf's
    /// key; another key for the wrong-key cases).
    fn certificate_bundle(&self, leaf: &[u8], chain: &[&str], signer: &SigningKey) -> Value {
        let chain: Vec<Vec<u8>> = chain
            .iter()
            .flat_map(|pem| model_verifier::pem::certificates_from_pem(pem.as_bytes()))
            .collect();
        let certs: Vec<Value> = std::iter::once(leaf.to_vec())
            .chain(chain)
            .map(|der| serde_json::json!({"rawBytes": STANDARD.encode(der)}))
            .collect();
        let sig = signer.sign(&dsse::pae_in_toto(&self.payload)).unwrap();
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"x509CertificateChain": {"certificates": certs}, "tlogEntries": []},
            "dsseEnvelope": {
                "payload": STANDARD.encode(&self.payload),
                "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"sig": STANDARD.encode(sig), "keyid": ""}]
            }
        })
    }

    fn write(&self, bundle: &Value, trust: &[&str]) {
        std::fs::write(self.dir().join("model.sig"), bundle.to_string()).unwrap();
        std::fs::write(self.dir().join("trust.pem"), trust.concat()).unwrap();
    }

    fn verify_certificate(&self) -> Output {
        ours(
            self.dir(),
            &[
                "verify",
                "certificate",
                "m",
                "--signature",
                "model.sig",
                "--certificate_chain",
                "trust.pem",
            ],
        )
    }

    fn python_certificate(&self, py: &Python) -> Output {
        py.model_signing(
            self.dir(),
            &[
                "verify",
                "certificate",
                "m",
                "--signature",
                "model.sig",
                "--certificate_chain",
                "trust.pem",
            ],
        )
    }
}

/// Runs one certificate case: our exit code and message prefix, and Python's exit code.
fn expect(case: &Case, py: &Python, what: &str, ok: bool, message: &str) {
    let out = case.verify_certificate();
    if ok {
        assert_eq!(out.code, 0, "{what}: {out:?}");
        assert_eq!(out.stdout, "Verification succeeded\n", "{what}");
    } else {
        assert_eq!(out.code, 1, "{what}: {out:?}");
        assert!(
            out.failure().starts_with(message),
            "{what}: {}",
            out.failure()
        );
    }
    let theirs = case.python_certificate(py);
    assert_eq!(
        theirs.code, out.code,
        "{what}: python disagrees: {theirs:?}"
    );
}

/// Signs with the leaf's own key and writes the bundle and the trust file.
fn standard_case(p: &Pki, chain: &[&str], trust: &[&str]) -> Case {
    let case = Case::new();
    let bundle = case.certificate_bundle(&p.leaf_der, chain, p.leaf_key.as_ref().unwrap());
    case.write(&bundle, trust);
    case
}

#[test]
fn valid_chains_verify() {
    let py = Python::find("pki failure classes (valid chains)");
    let py = &py;
    let (r, i, l) = standard();
    let p = pki(r, i, l, no_tweak);
    let case = standard_case(&p, &[&p.intermediate_pem], &[&p.root_pem]);
    expect(&case, py, "root -> intermediate -> leaf", true, "");
    // The bundle may carry the root too.
    let case = standard_case(&p, &[&p.intermediate_pem, &p.root_pem], &[&p.root_pem]);
    expect(&case, py, "chain including the root", true, "");
    run_chain_cases(
        py,
        &[
            // Leaf curves P-384 and P-521, an Ed25519 intermediate.
            ChainCase::new(
                "P384 intermediate, P384 leaf",
                |_, i, l| (i.curve, l.curve) = ("P384", "P384"),
                None,
            ),
            ChainCase::new(
                "ED25519 intermediate, P521 leaf",
                |_, i, l| (i.curve, l.curve) = ("ED25519", "P521"),
                None,
            ),
            // A CA:TRUE leaf is accepted (OpenSSL does not require an end entity).
            ChainCase::new(
                "CA:TRUE leaf",
                |_, _, l| {
                    l.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                    l.key_usages = vec![
                        KeyUsagePurpose::DigitalSignature,
                        KeyUsagePurpose::KeyCertSign,
                    ];
                },
                None,
            ),
            // pathLen 1 on the root allows the one intermediate.
            ChainCase::new(
                "pathLen 1",
                |r, _, _| r.is_ca = IsCa::Ca(BasicConstraints::Constrained(1)),
                None,
            ),
        ],
    );
}

#[test]
fn expired_leaf_is_accepted() {
    let py = Python::find("pki failure classes (expired leaf)");
    run_chain_cases(
        &py,
        &[ChainCase::new(
            "leaf expired long ago",
            |_, _, l| (l.not_before, l.not_after) = ((2024, 7, 1), (2024, 7, 2)),
            None,
        )],
    );
}

/// Issue 18 (high): the path must end at a certificate of the trust store, not at a bundle
/// certificate that merely has a trusted root's subject and key. Each case is a root whose own
/// constraint fails the chain; appending a forged unconstrained twin of the root to the bundle
/// must not help. Python (OpenSSL) rejects all of them.
#[test]
fn a_forged_copy_of_the_root_in_the_bundle_is_no_trust_anchor() {
    use rcgen::{GeneralSubtree, NameConstraints, SanType};
    let py = Python::find("pki failure classes (forged root)");
    let py = &py;
    // (what, root/intermediate specs, root/leaf parameters, expected failure)
    type Specs = fn(&mut CertSpec, &mut CertSpec);
    type Params = fn(&mut CertificateParams, &mut CertificateParams);
    let cases: [(&str, Specs, Params, &str); 4] = [
        (
            "expired root (valid 2015-2021), intermediate 2020-2040",
            |r, i| {
                r.not_before = (2015, 1, 1);
                r.not_after = (2021, 1, 1);
                i.not_before = (2020, 1, 1);
                i.not_after = (2040, 1, 1);
            },
            |_, _| {},
            "certificate has expired",
        ),
        (
            "root with pathLen 0",
            |r, _| r.is_ca = IsCa::Ca(BasicConstraints::Constrained(0)),
            |_, _| {},
            "path length constraint exceeded",
        ),
        (
            "root permits only DNS good.example, leaf is evil.example",
            |_, _| {},
            |rp, lp| {
                rp.name_constraints = Some(NameConstraints {
                    permitted_subtrees: vec![GeneralSubtree::DnsName("good.example".into())],
                    excluded_subtrees: vec![],
                });
                lp.subject_alt_names = vec![SanType::DnsName("evil.example".try_into().unwrap())];
            },
            "permitted subtree violation",
        ),
        (
            "root keyUsage without keyCertSign",
            |r, _| r.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign],
            |_, _| {},
            "invalid CA certificate",
        ),
    ];
    for (what, specs, params, message) in cases {
        let (mut r, mut i, l) = standard();
        specs(&mut r, &mut i);
        let cn = r.cn.clone();
        let p = pki(r, i, l, |rp, _, lp| params(rp, lp));
        let forged = forged_root(&cn, &p.root_key);
        // Without the forgery the real root's constraint fails the chain...
        let case = standard_case(&p, &[&p.intermediate_pem], &[&p.root_pem]);
        expect(&case, py, &format!("{what}: honest chain"), false, message);
        // ...and the forged twin in the bundle must not change that, wherever it sits.
        for chain in [
            [p.intermediate_pem.as_str(), &forged],
            [&forged, &p.intermediate_pem],
        ] {
            let case = standard_case(&p, &chain, &[&p.root_pem]);
            expect(
                &case,
                py,
                &format!("{what}: forged root appended"),
                false,
                message,
            );
        }
    }
    // The real root itself in the bundle (byte-equal to the trusted one) is still fine.
    let (r, i, l) = standard();
    let p = pki(r, i, l, no_tweak);
    let forged = forged_root("Failure Root", &p.root_key);
    let case = standard_case(
        &p,
        &[&p.intermediate_pem, &forged, &p.root_pem],
        &[&p.root_pem],
    );
    expect(&case, py, "forged and real root in the bundle", true, "");
}

#[test]
fn wrong_key_wrong_curve_and_tampered_payload_fail() {
    let py = Python::find("pki failure classes (signature)");
    let py = &py;
    let (r, i, l) = standard();
    let p = pki(r, i, l, no_tweak);
    // Wrong key: another P-256 key signed the envelope.
    let case = Case::new();
    let other = SigningKey::generate(Curve::P256).unwrap();
    let bundle = case.certificate_bundle(&p.leaf_der, &[&p.intermediate_pem], &other);
    case.write(&bundle, &[&p.root_pem]);
    expect(&case, py, "wrong key", false, "Invalid signature");
    // Wrong curve: a P-384 key signed for a P-256 leaf.
    let other = SigningKey::generate(Curve::P384).unwrap();
    let bundle = case.certificate_bundle(&p.leaf_der, &[&p.intermediate_pem], &other);
    case.write(&bundle, &[&p.root_pem]);
    expect(&case, py, "wrong curve", false, "Invalid signature");
    // Payload tampered after signing.
    let mut bundle = case.certificate_bundle(
        &p.leaf_der,
        &[&p.intermediate_pem],
        p.leaf_key.as_ref().unwrap(),
    );
    let mut payload = case.payload.clone();
    let n = payload.len() - 5;
    payload[n] ^= 0x01;
    bundle["dsseEnvelope"]["payload"] = STANDARD.encode(&payload).into();
    case.write(&bundle, &[&p.root_pem]);
    expect(&case, py, "payload tampered", false, "Invalid signature");
    // Our signer refuses a certificate for another key outright.
    let other = SigningKey::generate(Curve::P256).unwrap();
    assert_eq!(
        sign::certificate_bundle(&other, &p.leaf_der, &[], b"{}").unwrap_err(),
        sign::SignError::CertificateKeyMismatch
    );
}

#[test]
fn wrong_root_and_missing_intermediate_fail() {
    let py = Python::find("pki failure classes (path)");
    let no_akid =
        |r: &mut CertificateParams, i: &mut CertificateParams, l: &mut CertificateParams| {
            for p in [r, i, l] {
                p.use_authority_key_identifier_extension = false;
            }
        };
    let standard_pki = |tweak: ParamsChange| {
        let (r, i, l) = standard();
        pki(r, i, l, tweak)
    };
    let k = PathPkis {
        p: standard_pki(no_tweak),
        impostor: standard_pki(no_tweak),
        p_no_akid: standard_pki(no_akid),
        impostor_no_akid: standard_pki(no_akid),
        other: pki(
            CertSpec::root("Other Root"),
            CertSpec::intermediate("Other Int"),
            CertSpec::leaf("x", "P256"),
            no_tweak,
        ),
    };
    let leaf_pem = model_verifier::pem::python_pem("CERTIFICATE", &k.p.leaf_der);
    const NO_ISSUER: &str = "unable to get local issuer certificate";
    // (what, which PKI signs, what the bundle carries after the leaf, what is trusted)
    let cases: [PathCase<'_>; 7] = [
        // A different root with the same name: the intermediate's authority key identifier
        // points elsewhere, so there is no issuer.
        (
            "wrong root, same name",
            &k.p,
            vec![&k.p.intermediate_pem],
            vec![&k.impostor.root_pem],
            NO_ISSUER,
        ),
        // Without key identifiers the names match and the signature check fails.
        (
            "wrong root, same name, no AKID",
            &k.p_no_akid,
            vec![&k.p_no_akid.intermediate_pem],
            vec![&k.impostor_no_akid.root_pem],
            "certificate signature failure",
        ),
        // A different root with another name: no issuer at all.
        (
            "wrong root",
            &k.p,
            vec![&k.p.intermediate_pem],
            vec![&k.other.root_pem],
            NO_ISSUER,
        ),
        // The bundle lacks the intermediate.
        (
            "missing intermediate",
            &k.p,
            vec![],
            vec![&k.p.root_pem],
            NO_ISSUER,
        ),
        // Only the intermediate is trusted: the path must still end at a self-signed
        // certificate.
        (
            "intermediate as trust anchor",
            &k.p,
            vec![&k.p.intermediate_pem],
            vec![&k.p.intermediate_pem],
            "unable to get issuer certificate",
        ),
        // The leaf itself trusted, nothing else: a leaf that is not self-signed is no anchor.
        (
            "only the leaf trusted",
            &k.p,
            vec![],
            vec![&leaf_pem],
            NO_ISSUER,
        ),
        // The bundle carries its own (untrusted) root, the trust store another.
        (
            "untrusted root in the bundle",
            &k.p,
            vec![&k.p.intermediate_pem, &k.p.root_pem],
            vec![&k.other.root_pem],
            "self-signed certificate in certificate chain",
        ),
    ];
    for (what, signer, chain, trust, message) in cases {
        let case = standard_case(signer, &chain, &trust);
        expect(&case, &py, what, false, message);
    }
}

/// (what, which PKI signs, the bundle's certificates after the leaf, the trust store, the
/// expected message prefix)
type PathCase<'a> = (&'a str, &'a Pki, Vec<&'a str>, Vec<&'a str>, &'a str);

/// The PKIs the path cases take their bundles and trust stores from.
struct PathPkis {
    p: Pki,
    impostor: Pki,
    p_no_akid: Pki,
    impostor_no_akid: Pki,
    other: Pki,
}

#[test]
fn leaf_without_signing_capability_fails() {
    let py = Python::find("pki failure classes (leaf usage)");
    let py = &py;
    let cases: [(
        &str,
        Vec<KeyUsagePurpose>,
        Vec<ExtendedKeyUsagePurpose>,
        bool,
    ); 5] = [
        (
            "KU keyEncipherment, EKU serverAuth",
            vec![KeyUsagePurpose::KeyEncipherment],
            vec![ExtendedKeyUsagePurpose::ServerAuth],
            false,
        ),
        ("no KU, no EKU", vec![], vec![], false),
        (
            "no KU, EKU serverAuth",
            vec![],
            vec![ExtendedKeyUsagePurpose::ServerAuth],
            false,
        ),
        (
            "KU keyEncipherment, EKU codeSigning",
            vec![KeyUsagePurpose::KeyEncipherment],
            vec![ExtendedKeyUsagePurpose::CodeSigning],
            true,
        ),
        (
            "KU digitalSignature, EKU serverAuth",
            vec![KeyUsagePurpose::DigitalSignature],
            vec![ExtendedKeyUsagePurpose::ServerAuth],
            true,
        ),
    ];
    for (what, ku, eku, ok) in cases {
        let (r, i, mut l) = standard();
        l.key_usages = ku;
        l.ekus = eku;
        let p = pki(r, i, l, no_tweak);
        let case = standard_case(&p, &[&p.intermediate_pem], &[&p.root_pem]);
        expect(
            &case,
            py,
            what,
            ok,
            "Signing certificate cannot be used for signing",
        );
    }
}

#[test]
fn issuer_not_a_ca_fails() {
    let py = Python::find("pki failure classes (CA checks)");
    let py = &py;
    const INVALID_CA: Option<&str> = Some("invalid CA certificate");
    run_chain_cases(
        py,
        &[
            // basicConstraints CA:FALSE on the intermediate (rcgen writes it explicitly;
            // OpenSSL tolerates that encoding on issuers).
            ChainCase::new(
                "intermediate CA:FALSE",
                |_, i, _| i.is_ca = IsCa::ExplicitNoCa,
                INVALID_CA,
            ),
            // No basicConstraints and no keyUsage.
            ChainCase::new(
                "intermediate without basicConstraints",
                |_, i, _| (i.is_ca, i.key_usages) = (IsCa::NoCa, vec![]),
                INVALID_CA,
            ),
            // CA:TRUE but keyUsage without keyCertSign.
            ChainCase::new(
                "intermediate without keyCertSign",
                |_, i, _| i.key_usages = vec![KeyUsagePurpose::DigitalSignature],
                INVALID_CA,
            ),
            // pathLen 0 on the root forbids the intermediate CA.
            ChainCase::new(
                "pathLen 0",
                |r, _, _| r.is_ca = IsCa::Ca(BasicConstraints::Constrained(0)),
                Some("path length constraint exceeded"),
            ),
            // An unknown critical extension on the intermediate.
            ChainCase {
                what: "unknown critical extension",
                specs: no_change,
                params: |_, ip, _| {
                    let mut ext = CustomExtension::from_oid_content(
                        &[1, 3, 6, 1, 4, 1, 55555, 1],
                        vec![0x05, 0x00],
                    );
                    ext.set_criticality(true);
                    ip.custom_extensions.push(ext);
                },
                failure: Some("unhandled critical extension"),
            },
        ],
    );
}

#[test]
fn validity_is_checked_at_the_leaf_not_before() {
    let py = Python::find("pki failure classes (validity)");
    let py = &py;
    run_chain_cases(
        py,
        &[
            // The leaf starts before its issuer.
            ChainCase::new(
                "leaf older than its issuer",
                |_, _, l| l.not_before = (2024, 1, 15),
                Some("certificate is not yet valid"),
            ),
            // The intermediate expired before the leaf was issued.
            ChainCase::new(
                "intermediate expired at signing",
                |_, i, _| i.not_after = (2024, 12, 31),
                Some("certificate has expired"),
            ),
        ],
    );
}

#[test]
fn self_signed_leaves() {
    let py = Python::find("pki failure classes (self-signed leaf)");
    let py = &py;
    let mut spec = CertSpec::leaf("self-signed signer", "P256");
    spec.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    spec.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    let key = KeyPair::generate_for(rcgen_alg("P256")).unwrap();
    let cert = spec.params().self_signed(&key).unwrap();
    let signer = SigningKey::from_der(&key.serialize_der()).unwrap();
    let case = Case::new();
    let bundle = case.certificate_bundle(cert.der(), &[], &signer);
    // Untrusted.
    let (r, i, l) = standard();
    let unrelated = pki(r, i, l, no_tweak);
    case.write(&bundle, &[&unrelated.root_pem]);
    expect(
        &case,
        py,
        "untrusted self-signed leaf",
        false,
        "self-signed certificate",
    );
    // Trusted.
    case.write(&bundle, &[&cert.pem()]);
    expect(&case, py, "trusted self-signed leaf", true, "");

    // A leaf named like its issuer (as the upstream test leaf is). OpenSSL takes it for
    // self-signed (same name, EC key, EC signature) unless its own subject key identifier
    // differs from the authority key identifier; so do we.
    for (akid, leaf_skid, ok) in [
        (true, true, true),
        (true, false, false),
        (false, false, false),
    ] {
        let (r, i, mut l) = standard();
        l.cn = i.cn.clone();
        let p = pki(r, i, l, |rp, ip, lp| {
            for p in [rp, ip] {
                p.use_authority_key_identifier_extension = akid;
            }
            lp.use_authority_key_identifier_extension = akid;
            if leaf_skid {
                // SubjectKeyIdentifier ::= OCTET STRING (20 bytes)
                let mut skid = vec![0x04, 20];
                skid.extend([0x5a; 20]);
                lp.custom_extensions
                    .push(CustomExtension::from_oid_content(&[2, 5, 29, 14], skid));
            }
        });
        let case = standard_case(&p, &[&p.intermediate_pem], &[&p.root_pem]);
        let what = format!("leaf named like its issuer, AKID {akid}, own SKID {leaf_skid}");
        expect(&case, py, &what, ok, "self-signed certificate");
    }
}

#[test]
fn compat_pae_in_the_certificate_method_needs_sha256() {
    let py = Python::find("pki failure classes (compat PAE)");
    let py = &py;
    for (curve, ok) in [("P256", true), ("P384", false)] {
        // Signed over the compat PAE with the curve's own hash: fine for P-256 (SHA-256), not
        // for P-384, where the certificate method only tries SHA-256 on the compat PAE.
        let (r, i, mut l) = standard();
        l.curve = curve;
        let p = pki(r, i, l, no_tweak);
        let case = Case::new();
        let key = p.leaf_key.as_ref().unwrap();
        let mut bundle = case.certificate_bundle(&p.leaf_der, &[&p.intermediate_pem], key);
        let sig = key.sign(&dsse::pae_compat(&case.payload)).unwrap();
        bundle["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(sig).into();
        case.write(&bundle, &[&p.root_pem]);
        expect(
            &case,
            py,
            &format!("compat PAE, {curve} leaf"),
            ok,
            "Invalid signature",
        );
    }
}

#[test]
fn a_leaf_that_is_not_an_ec_key_fails() {
    let py = Python::find("pki failure classes (leaf key type)");
    let (r, i, mut l) = standard();
    l.curve = "ED25519";
    let p = pki(r, i, l, no_tweak);
    let case = Case::new();
    let any = SigningKey::generate(Curve::P256).unwrap();
    let bundle = case.certificate_bundle(&p.leaf_der, &[&p.intermediate_pem], &any);
    case.write(&bundle, &[&p.root_pem]);
    expect(
        &case,
        &py,
        "Ed25519 leaf",
        false,
        "the signing certificate's public key cannot verify",
    );
}

#[test]
fn key_method_failure_classes() {
    let py = Python::find("key method failure classes");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    let p256 = SigningKey::generate(Curve::P256).unwrap();
    let p384 = SigningKey::generate(Curve::P384).unwrap();
    let other256 = SigningKey::generate(Curve::P256).unwrap();
    for (name, key) in [("p256", &p256), ("p384", &p384), ("other256", &other256)] {
        std::fs::write(
            root.join(format!("{name}.pub")),
            key.public_key().python_pem(),
        )
        .unwrap();
    }
    let payload = signing_payload(&ModelSpec::new(root.join("m")))
        .unwrap()
        .payload;
    let write =
        |bundle: &Value| std::fs::write(root.join("model.sig"), bundle.to_string()).unwrap();
    let run = |public: &str, expect_ok: bool, message: &str, what: &str| {
        let args = [
            "verify",
            "key",
            "m",
            "--signature",
            "model.sig",
            "--public_key",
            public,
        ];
        let out = ours(root, &args);
        if expect_ok {
            assert_eq!(out.code, 0, "{what}: {out:?}");
        } else {
            assert_eq!(out.code, 1, "{what}: {out:?}");
            assert!(
                out.failure().starts_with(message),
                "{what}: {}",
                out.failure()
            );
        }
        let theirs = py.model_signing(root, &args);
        assert_eq!(
            theirs.code, out.code,
            "{what}: python disagrees: {theirs:?}"
        );
        assert_eq!(theirs.stdout, out.stdout, "{what}: stdout differs");
    };
    let bundle: Value =
        serde_json::from_str(&sign::key_bundle(&p256, &payload).unwrap().to_json()).unwrap();
    write(&bundle);
    run("p256.pub", true, "", "own key");
    run("other256.pub", false, "Key mismatch", "wrong key (hint)");
    run("p384.pub", false, "Key mismatch", "wrong curve (hint)");
    // Without the hint, the signature itself decides (and the WARNING is printed first).
    let mut legacy = bundle.clone();
    legacy["verificationMaterial"]["publicKey"] = serde_json::json!({});
    write(&legacy);
    run("p256.pub", true, "", "legacy format, own key");
    run(
        "other256.pub",
        false,
        "Invalid signature",
        "legacy format, wrong key",
    );
    run(
        "p384.pub",
        false,
        "Invalid signature",
        "legacy format, wrong curve",
    );
    // Payload tampered.
    let mut tampered = bundle.clone();
    let mut bytes = payload.clone();
    bytes[10] ^= 0x02;
    tampered["dsseEnvelope"]["payload"] = STANDARD.encode(&bytes).into();
    write(&tampered);
    run("p256.pub", false, "Invalid signature", "payload tampered");
    // The v0.2.0 compat PAE (`DSSEV1 ... b'...'`) with the curve's hash also verifies.
    for (name, key) in [("p256", &p256), ("p384", &p384)] {
        let mut compat = bundle.clone();
        let sig = key.sign(&dsse::pae_compat(&payload)).unwrap();
        compat["verificationMaterial"]["publicKey"]["hint"] = key.public_key().hint().into();
        compat["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(sig).into();
        write(&compat);
        run(
            &format!("{name}.pub"),
            true,
            "",
            &format!("compat PAE, {name}"),
        );
    }
    // A secp256k1 public key is refused with Python's message.
    use aws_lc_rs::signature::{ECDSA_P256K1_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
    let k1 = EcdsaKeyPair::generate(&ECDSA_P256K1_SHA256_ASN1_SIGNING).unwrap();
    let k1 =
        model_verifier::keys::EcPublicKey::from_point(Curve::Secp256k1, k1.public_key().as_ref())
            .unwrap();
    std::fs::write(root.join("k1.pub"), k1.python_pem()).unwrap();
    write(&bundle);
    let args = [
        "verify",
        "key",
        "m",
        "--signature",
        "model.sig",
        "--public_key",
        "k1.pub",
    ];
    let out = ours(root, &args);
    assert_eq!(out.failure(), "Unsupported key for curve 'secp256k1'");
    assert!(
        py.model_signing(root, &args)
            .stderr
            .contains("Unsupported key for curve 'secp256k1'")
    );
}

#[test]
fn name_constraints_are_enforced() {
    use rcgen::{GeneralSubtree, NameConstraints, SanType};
    let py = Python::find("pki failure classes (name constraints)");
    let py = &py;
    type Tweak = fn(&mut CertificateParams);
    let cases: Vec<(&str, NameConstraints, Tweak, bool, &str)> = vec![
        (
            "permitted DNS, leaf inside",
            NameConstraints {
                permitted_subtrees: vec![GeneralSubtree::DnsName(".example.com".into())],
                excluded_subtrees: vec![],
            },
            |l| {
                l.subject_alt_names =
                    vec![SanType::DnsName("signer.example.com".try_into().unwrap())]
            },
            true,
            "",
        ),
        (
            "permitted DNS, leaf outside",
            NameConstraints {
                permitted_subtrees: vec![GeneralSubtree::DnsName(".example.com".into())],
                excluded_subtrees: vec![],
            },
            |l| {
                l.subject_alt_names = vec![SanType::DnsName("signer.evil.test".try_into().unwrap())]
            },
            false,
            "permitted subtree violation",
        ),
        (
            "excluded email domain",
            NameConstraints {
                permitted_subtrees: vec![],
                excluded_subtrees: vec![GeneralSubtree::Rfc822Name("evil.test".into())],
            },
            |l| {
                l.subject_alt_names =
                    vec![SanType::Rfc822Name("mallory@evil.test".try_into().unwrap())]
            },
            false,
            "excluded subtree violation",
        ),
        (
            "host-like CN checked when there is no DNS SAN",
            NameConstraints {
                permitted_subtrees: vec![GeneralSubtree::DnsName("example.com".into())],
                excluded_subtrees: vec![],
            },
            |l| {
                let mut dn = rcgen::DistinguishedName::new();
                dn.push(rcgen::DnType::CommonName, "signer.evil.test");
                l.distinguished_name = dn;
            },
            false,
            "permitted subtree violation",
        ),
    ];
    for (what, nc, tweak_leaf, ok, message) in cases {
        let (r, i, l) = standard();
        let p = pki(r, i, l, |_, ip, lp| {
            ip.name_constraints = Some(nc.clone());
            tweak_leaf(lp);
        });
        let case = standard_case(&p, &[&p.intermediate_pem], &[&p.root_pem]);
        expect(&case, py, what, ok, message);
    }
}

/// DER tag-length-value (short lengths only; enough for these test structures).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    assert!(content.len() < 128);
    let mut v = vec![tag, content.len() as u8];
    v.extend_from_slice(content);
    v
}

#[test]
fn directory_name_constraints_are_enforced() {
    let py = Python::find("pki failure classes (directory name constraints)");
    let py = &py;
    // nameConstraints { permittedSubtrees [0] { { directoryName [4] { O=Good Org } } } }
    // (built by hand: rcgen 0.14 encodes directoryName subtrees without the [4] tag).
    let org = tlv(
        0x30,
        &[tlv(0x06, &[0x55, 0x04, 0x0a]), tlv(0x0c, b"Good Org")].concat(),
    );
    let name = tlv(0x30, &tlv(0x31, &org));
    let nc = tlv(0x30, &tlv(0xa0, &tlv(0x30, &tlv(0xa4, &name))));
    for (inside, ok) in [(false, false), (true, true)] {
        let (r, i, l) = standard();
        let nc = nc.clone();
        let p = pki(r, i, l, move |_, ip, lp| {
            let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 30], nc.clone());
            ext.set_criticality(true);
            ip.custom_extensions.push(ext);
            if inside {
                let mut dn = rcgen::DistinguishedName::new();
                dn.push(rcgen::DnType::OrganizationName, "Good Org");
                dn.push(rcgen::DnType::CommonName, "signer");
                lp.distinguished_name = dn;
            }
        });
        let case = standard_case(&p, &[&p.intermediate_pem], &[&p.root_pem]);
        let what = format!("leaf DN inside O=Good Org: {inside}");
        expect(&case, py, &what, ok, "permitted subtree violation");
    }
}

/// Corrupted bundles and certificates must give errors, never panics.
#[test]
fn corrupted_inputs_never_panic() {
    use model_verifier::method::SignatureVerifier;
    use model_verifier::method::certificate::CertificateVerifier;
    use model_verifier::method::key::KeyVerifier;
    let (r, i, l) = standard();
    let p = pki(r, i, l, no_tweak);
    let case = Case::new();
    let cert_bundle = case
        .certificate_bundle(
            &p.leaf_der,
            &[&p.intermediate_pem],
            p.leaf_key.as_ref().unwrap(),
        )
        .to_string();
    let key = p.leaf_key.as_ref().unwrap();
    let key_bundle = sign::key_bundle(key, &case.payload).unwrap().to_json();
    let certs = CertificateVerifier::from_pem(p.root_pem.as_bytes()).unwrap();
    let keys = KeyVerifier::from_pem(key.public_key().python_pem().as_bytes()).unwrap();
    assert!(certs.verify_bundle(cert_bundle.as_bytes()).is_ok());
    assert!(keys.verify_bundle(key_bundle.as_bytes()).is_ok());
    // Deterministic xorshift over positions and replacement bytes.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut rejected = 0;
    for round in 0..1500 {
        let source = if round % 2 == 0 {
            &cert_bundle
        } else {
            &key_bundle
        };
        let mut bytes = source.as_bytes().to_vec();
        for _ in 0..=(next() % 3) {
            let pos = (next() as usize) % bytes.len();
            bytes[pos] = (next() & 0xff) as u8;
        }
        let a = certs.verify_bundle(&bytes);
        let b = keys.verify_bundle(&bytes);
        if a.is_err() && b.is_err() {
            rejected += 1;
        }
    }
    assert!(
        rejected > 1000,
        "only {rejected} corrupted bundles were rejected"
    );
    // Corrupted DER inside an otherwise valid bundle: flip bytes of each certificate.
    let leaf = p.leaf_der.clone();
    for round in 0..600 {
        let mut der = leaf.clone();
        let pos = (next() as usize) % der.len();
        der[pos] ^= 1 << (round % 8);
        let mut b: Value = serde_json::from_str(&cert_bundle).unwrap();
        b["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"] =
            STANDARD.encode(&der).into();
        // A flipped bit anywhere in the signed leaf must not verify.
        assert!(
            certs.verify_bundle(b.to_string().as_bytes()).is_err(),
            "round {round}, byte {pos}: {} -> {}",
            hex::encode(&leaf),
            hex::encode(&der)
        );
    }
    let _ = model_verifier::x509::verify_path(&[0x30, 0x80], &[&[0xff; 3]], &[&[]], 0);
}

/// Random combinations of the knobs above (CA flags, key usages, pathLen, validity windows,
/// key identifiers, what the bundle carries and what is trusted): our verdict must be
/// Python's on every one. Needs the Python peer (skips loudly without it).
#[test]
fn random_chains_get_the_same_verdict_as_python() {
    let py = Python::find("random chains vs python");
    let mut x: u64 = std::env::var("MV_PKI_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x2545_f491_4f6c_dd1d);
    eprintln!("random chains: seed {x} (set MV_PKI_SEED to replay)");
    let mut pick = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n) as usize
    };
    let cas = [
        IsCa::Ca(BasicConstraints::Unconstrained),
        IsCa::Ca(BasicConstraints::Unconstrained),
        IsCa::Ca(BasicConstraints::Constrained(0)),
        IsCa::Ca(BasicConstraints::Constrained(1)),
        IsCa::ExplicitNoCa,
        IsCa::NoCa,
    ];
    let ca_kus = [
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign],
        vec![KeyUsagePurpose::KeyCertSign],
        vec![KeyUsagePurpose::DigitalSignature],
        vec![],
    ];
    let leaf_kus = [
        vec![KeyUsagePurpose::DigitalSignature],
        vec![KeyUsagePurpose::KeyEncipherment],
        vec![],
    ];
    let ekus = [
        vec![ExtendedKeyUsagePurpose::CodeSigning],
        vec![ExtendedKeyUsagePurpose::ServerAuth],
        vec![],
    ];
    let curves = ["P256", "P384", "P521"];
    let noise = pki(
        CertSpec::root("Noise Root"),
        CertSpec::intermediate("Noise Intermediate"),
        CertSpec::leaf("noise", "P256"),
        no_tweak,
    );
    let mut disagreements = Vec::new();
    let mut accepted = 0;
    let rounds = 40;
    for round in 0..rounds {
        let (mut r, mut i, mut l) = standard();
        // Mostly sensible CAs, sometimes broken ones.
        if pick(3) == 0 {
            r.is_ca = cas[pick(cas.len() as u64)];
            r.key_usages = ca_kus[pick(ca_kus.len() as u64)].clone();
        }
        if pick(3) == 0 {
            i.is_ca = cas[pick(cas.len() as u64)];
            i.key_usages = ca_kus[pick(ca_kus.len() as u64)].clone();
        }
        if pick(4) == 0 {
            i.not_after = (2024, 12, 31);
        }
        if pick(5) == 0 {
            r.not_before = (2025, 6, 1);
        }
        l.key_usages = leaf_kus[pick(leaf_kus.len() as u64)].clone();
        l.ekus = ekus[pick(ekus.len() as u64)].clone();
        l.curve = curves[pick(3)];
        if pick(4) == 0 {
            l.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if pick(4) == 0 {
            l.not_before = (2024, 3, 1);
        }
        let akid = pick(4) != 0;
        let knobs = format!("round {round}: root {r:?}\nint {i:?}\nleaf {l:?}\nakid {akid}");
        let p = pki(r, i, l, |rp, ip, lp| {
            for p in [rp, ip, lp] {
                p.use_authority_key_identifier_extension = akid;
            }
        });
        let (mut chain, mut trust): (Vec<&str>, Vec<&str>) = match pick(4) {
            0 => (vec![], vec![&p.root_pem, &p.intermediate_pem]),
            1 => (vec![&p.intermediate_pem, &p.root_pem], vec![&p.root_pem]),
            2 => (vec![&p.intermediate_pem], vec![&p.intermediate_pem]),
            _ => (vec![&p.intermediate_pem], vec![&p.root_pem]),
        };
        // Unrelated certificates in the bundle or the trust store must not matter.
        if pick(4) == 0 {
            chain.insert(0, &noise.intermediate_pem);
        }
        if pick(4) == 0 {
            trust.insert(0, &noise.root_pem);
        }
        let case = standard_case(&p, &chain, &trust);
        let mine = case.verify_certificate();
        let theirs = case.python_certificate(&py);
        if mine.code == 0 {
            accepted += 1;
        }
        if mine.code != theirs.code {
            disagreements.push(format!(
                "{knobs}\nchain {} trust {}\nours: {}python: {}",
                chain.len(),
                trust.len(),
                mine.stderr,
                theirs.stderr
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {rounds} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n\n")
    );
    // The knobs must exercise both outcomes.
    assert!(
        accepted > 0 && accepted < rounds,
        "accepted {accepted} of {rounds}"
    );
}

/// A secp256k1 leaf: the key method refuses such keys, but the certificate method picks the
/// hash from the key size (256 → SHA-256) and accepts it, in Python and here. The leaf and
/// the DSSE signature are made by Python's `cryptography` (rcgen has no secp256k1).
#[test]
fn secp256k1_leaf_in_the_certificate_method() {
    let py = Python::find("secp256k1 leaf");
    const CODE: &str = r#"
import sys, datetime
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
issuer_key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
issuer = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
payload = open(sys.argv[3], "rb").read()
key = ec.generate_private_key(ec.SECP256K1())
cert = (x509.CertificateBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k1 signer")]))
    .issuer_name(issuer.subject)
    .public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(datetime.datetime(2025, 1, 1))
    .not_valid_after(datetime.datetime(2030, 1, 1))
    .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    .sign(issuer_key, hashes.SHA256()))
pae = b"DSSEv1 28 application/vnd.in-toto+json " + str(len(payload)).encode() + b" " + payload
open(sys.argv[4], "wb").write(cert.public_bytes(serialization.Encoding.DER))
open(sys.argv[5], "wb").write(key.sign(pae, ec.ECDSA(hashes.SHA256())))
"#;
    // The intermediate with its key, so that Python can issue the leaf.
    let (r, i, _) = standard();
    let root_key = KeyPair::generate_for(rcgen_alg(r.curve)).unwrap();
    let root_ca = CertifiedIssuer::self_signed(r.params(), root_key).unwrap();
    let int_key = KeyPair::generate_for(rcgen_alg(i.curve)).unwrap();
    let int_key_pem = int_key.serialize_pem();
    let int_ca = CertifiedIssuer::signed_by(i.params(), int_key, &root_ca).unwrap();
    let case = Case::new();
    let d = case.dir();
    std::fs::write(d.join("int.key"), int_key_pem).unwrap();
    std::fs::write(d.join("int.pem"), int_ca.pem()).unwrap();
    std::fs::write(d.join("payload.json"), &case.payload).unwrap();
    let path = |f: &str| d.join(f).to_str().unwrap().to_owned();
    let out = py.script(
        CODE,
        &[
            &path("int.key"),
            &path("int.pem"),
            &path("payload.json"),
            &path("leaf.der"),
            &path("sig.der"),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let leaf = std::fs::read(d.join("leaf.der")).unwrap();
    let sig = std::fs::read(d.join("sig.der")).unwrap();
    let any = SigningKey::generate(Curve::P256).unwrap();
    let mut bundle = case.certificate_bundle(&leaf, &[&int_ca.pem()], &any);
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(&sig).into();
    case.write(&bundle, &[&root_ca.pem()]);
    expect(&case, &py, "secp256k1 leaf", true, "");
    // And a wrong signature still fails.
    let mut bad = sig.clone();
    let n = bad.len() - 1;
    bad[n] ^= 1;
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(&bad).into();
    case.write(&bundle, &[&root_ca.pem()]);
    expect(
        &case,
        &py,
        "secp256k1 leaf, bad signature",
        false,
        "Invalid signature",
    );
}

/// Issuer signature algorithms made by Python's `cryptography`: RSA PKCS#1 v1.5 with
/// SHA-256/384/512, RSA-PSS, ECDSA with other hashes than the curve's, Ed25519. The path
/// must verify in both tools (and fail in both when the leaf's issuer signature is broken).
#[test]
fn issuer_signature_algorithms_from_cryptography() {
    let py = Python::find("issuer signature algorithms");
    const CODE: &str = r#"
import sys, datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, ed25519, padding
out, root_alg, int_alg, payload_path, corrupt = sys.argv[1:6]
H = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
def make_key(alg):
    kind = alg.split("-")[0]
    if kind in ("rsa", "pss"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key({"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}[kind])
def sign_args(alg):
    kind = alg.split("-")[0]
    if kind == "ed25519":
        return dict(algorithm=None)
    h = H[alg.split("-")[1]]
    if kind == "pss":
        return dict(algorithm=h, rsa_padding=padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size))
    return dict(algorithm=h)
def name(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def build(subject, issuer_name, pub, signer, alg, ca, ku):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2024, 1, 1)).not_valid_after(datetime.datetime(2034, 1, 1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(ku, critical=True))
    return b.sign(signer, **sign_args(alg))
ca_ku = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
leaf_ku = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
root_key, int_key = make_key(root_alg), make_key(int_alg)
leaf_key = ec.generate_private_key(ec.SECP256R1())
root = build(name("py root"), name("py root"), root_key.public_key(), root_key, root_alg, True, ca_ku)
inter = build(name("py int"), root.subject, int_key.public_key(), root_key, root_alg, True, ca_ku)
leaf = build(name("py leaf"), inter.subject, leaf_key.public_key(), int_key, int_alg, False, leaf_ku)
payload = open(payload_path, "rb").read()
pae = b"DSSEv1 28 application/vnd.in-toto+json " + str(len(payload)).encode() + b" " + payload
leaf_der = bytearray(leaf.public_bytes(serialization.Encoding.DER))
if corrupt == "1":
    leaf_der[-3] ^= 1  # inside the issuer's signature value
open(out + "/root.pem", "wb").write(root.public_bytes(serialization.Encoding.PEM))
open(out + "/int.pem", "wb").write(inter.public_bytes(serialization.Encoding.PEM))
open(out + "/leaf.der", "wb").write(bytes(leaf_der))
open(out + "/sig.der", "wb").write(leaf_key.sign(pae, ec.ECDSA(hashes.SHA256())))
"#;
    let combos = [
        ("rsa-256", "rsa-384"),
        ("rsa-512", "pss-256"),
        ("pss-384", "pss-512"),
        ("p384-256", "p256-512"),
        ("p521-384", "ed25519"),
        ("ed25519", "rsa-256"),
    ];
    for (root_alg, int_alg) in combos {
        for corrupt in [false, true] {
            let case = Case::new();
            let d = case.dir();
            std::fs::write(d.join("payload.json"), &case.payload).unwrap();
            let out = py.script(
                CODE,
                &[
                    d.to_str().unwrap(),
                    root_alg,
                    int_alg,
                    d.join("payload.json").to_str().unwrap(),
                    if corrupt { "1" } else { "0" },
                ],
            );
            assert_eq!(out.code, 0, "{out:?}");
            let leaf = std::fs::read(d.join("leaf.der")).unwrap();
            let sig = std::fs::read(d.join("sig.der")).unwrap();
            let int_pem = std::fs::read_to_string(d.join("int.pem")).unwrap();
            let root_pem = std::fs::read_to_string(d.join("root.pem")).unwrap();
            let any = SigningKey::generate(Curve::P256).unwrap();
            let mut bundle = case.certificate_bundle(&leaf, &[&int_pem], &any);
            bundle["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(&sig).into();
            case.write(&bundle, &[&root_pem]);
            let what = format!("root {root_alg}, intermediate {int_alg}, corrupt {corrupt}");
            expect(&case, &py, &what, !corrupt, "certificate signature failure");
        }
    }
}

/// PEM files with a malformed block: `cryptography` refuses them, and so do we.
#[test]
fn malformed_pem_files() {
    let py = Python::find("malformed PEM files");
    let py = &py;
    let (r, i, l) = standard();
    let p = pki(r, i, l, no_tweak);
    // A block that never ends is trailing text (cryptography's parser ignores it) ...
    let dangling = format!("{}-----BEGIN CERTIFICATE-----\nMIIB\n", p.root_pem);
    let case = standard_case(&p, &[&p.intermediate_pem], &[&dangling]);
    expect(&case, py, "dangling BEGIN at the end", true, "");
    // ... but not when another block's END follows.
    let mismatched = format!("-----BEGIN CERTIFICATE-----\nMIIB\n{}", p.root_pem);
    let case = standard_case(&p, &[&p.intermediate_pem], &[&mismatched]);
    expect(
        &case,
        py,
        "BEGIN without END before a block",
        false,
        "Unable to load PEM file",
    );
    // A chain file with the root and a block whose body is not base64.
    let junk = format!(
        "{}-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        p.root_pem
    );
    let case = standard_case(&p, &[&p.intermediate_pem], &[&junk]);
    expect(
        &case,
        py,
        "bad base64 in the chain file",
        false,
        "Unable to load PEM file",
    );
    // Text around well-formed blocks is fine.
    let chatty = format!("Root CA for tests\n{}\ntrailing words\n", p.root_pem);
    let case = standard_case(&p, &[&p.intermediate_pem], &[&chatty]);
    expect(&case, py, "text around the blocks", true, "");

    // A public key file whose first block is malformed.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    let key = SigningKey::generate(Curve::P256).unwrap();
    let payload = signing_payload(&ModelSpec::new(root.join("m")))
        .unwrap()
        .payload;
    std::fs::write(
        root.join("model.sig"),
        sign::key_bundle(&key, &payload).unwrap().to_json(),
    )
    .unwrap();
    let bad = format!(
        "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n{}",
        key.public_key().python_pem()
    );
    std::fs::write(root.join("k.pub"), bad).unwrap();
    let args = [
        "verify",
        "key",
        "m",
        "--signature",
        "model.sig",
        "--public_key",
        "k.pub",
    ];
    let out = ours(root, &args);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.failure().starts_with("Unable to load PEM file"),
        "{}",
        out.failure()
    );
    assert_eq!(py.model_signing(root, &args).code, 1);
}
