//! Issue 17: several trusted signers in one verification. Repeated `--public_key` (any key may
//! have signed), repeated `--certificate_chain` (a chain to any of the CAs), and Sigstore signers
//! as identity/issuer pairs, exact or as anchored regular expressions, on the genuine upstream
//! vector and on certificates minted by the test-only Sigstore.

use crate::support::key_cert_fixtures as fixtures;
use crate::support::mini_sigstore as mini;
use crate::support::sigstore_common::{IDENTITY, ISSUER, conformance_dir};

use std::path::Path;

use fixtures::{BIN, CertSpec, Chain, Output, ours, rust_key_pair, tiny_model, write_model};
use mini::{MiniSigstore, Mint};
use model_verifier::keys::{Curve, EcPublicKey};
use model_verifier::method::SignatureVerifier;
use model_verifier::method::sigstore::{
    IdentityPolicy, LeafError, SigstoreError, SigstoreVerifier, TrustMaterial, TrustSource,
};
use mv_shared::signer::SignerIdentity;
use rcgen::SanType;

fn hint(pub_pem: &Path) -> String {
    EcPublicKey::from_pem(&std::fs::read(pub_pem).unwrap())
        .unwrap()
        .hint()
}

/// `--public_key a.pub --public_key b.pub`: either key verifies, in either order.
#[test]
fn any_of_several_keys_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_model(&dir.join("model"), &tiny_model());
    rust_key_pair(dir, "a", Curve::P256);
    rust_key_pair(dir, "b", Curve::P384);
    rust_key_pair(dir, "c", Curve::P256);
    std::fs::write(dir.join("junk.pub"), "not a key\n").unwrap();
    for stem in ["a", "b"] {
        let key = format!("{stem}.key");
        let sig = format!("{stem}.sig");
        let args = ["sign", "key", "model", "--private_key", &key];
        ours(dir, &[&args[..], &["--signature", &sig]].concat()).assert_ok("sign");
    }
    let verify = |sig: &str, keys: &[&str], extra: &[&str]| -> Output {
        let mut args = vec!["verify", "key", "model", "--signature", sig];
        for k in keys {
            args.extend(["--public_key", k]);
        }
        args.extend(extra);
        ours(dir, &args)
    };
    // (signature, keys, exit, what stderr's failure line contains)
    let cases: [(&str, &[&str], i32, &str); 10] = [
        ("a.sig", &["a.pub", "b.pub"], 0, ""),
        ("a.sig", &["b.pub", "a.pub"], 0, ""),
        ("b.sig", &["a.pub", "b.pub"], 0, ""),
        ("b.sig", &["b.pub", "a.pub"], 0, ""),
        ("a.sig", &["a.pub", "a.pub"], 0, ""),
        (
            "a.sig",
            &["b.pub", "c.pub"],
            1,
            "none of the 2 trusted public keys verifies the signature: 'b.pub' (sha256:",
        ),
        ("b.sig", &["a.pub", "c.pub", "a.pub"], 1, "none of the 3"),
        // One key: model_signing's message, as before.
        ("a.sig", &["c.pub"], 1, "Key mismatch: "),
        // A key file that cannot be read or parsed fails the set-up, even next to the right key.
        (
            "a.sig",
            &["a.pub", "missing.pub"],
            1,
            "[Errno 2] No such file or directory: 'missing.pub'",
        ),
        (
            "a.sig",
            &["junk.pub", "a.pub"],
            1,
            "public key 'junk.pub': Unable to load PEM file",
        ),
    ];
    for (sig, keys, exit, needle) in cases {
        let out = verify(sig, keys, &[]);
        assert_eq!(out.code, exit, "{sig} with {keys:?}: {out:?}");
        if exit == 0 {
            assert_eq!(out.stdout, "Verification succeeded\n", "{sig} {keys:?}");
        } else {
            assert!(out.failure().contains(needle), "{sig} {keys:?}: {out:?}");
        }
    }
    // The failure names every key tried, with its hint and why it failed.
    let out = verify("a.sig", &["b.pub", "c.pub"], &[]);
    let (hb, hc, ha) = (
        hint(&dir.join("b.pub")),
        hint(&dir.join("c.pub")),
        hint(&dir.join("a.pub")),
    );
    let another = format!("the signature was made with another key (its key hint is sha256:{ha})");
    assert_eq!(
        out.failure(),
        format!(
            "none of the 2 trusted public keys verifies the signature: 'b.pub' (sha256:{hb}): {another}; 'c.pub' (sha256:{hc}): {another}"
        )
    );
    // The report names the key that verified; the hyphenated spelling repeats too.
    let out = ours(
        dir,
        &[
            "verify",
            "key",
            "model",
            "--signature",
            "b.sig",
            "--public-key",
            "a.pub",
            "--public_key",
            "b.pub",
            "--output",
            "json",
        ],
    );
    out.assert_ok("json");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        v["signer"],
        format!("public key sha256:{}", hint(&dir.join("b.pub")))
    );
}

/// `--certificate_chain` repeated: the files are pooled, a signing certificate that chains to any
/// of the CAs verifies, one from a third CA does not.
#[test]
fn certificate_authorities_from_several_files_are_pooled() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_model(&dir.join("model"), &tiny_model());
    for ca in ["a", "b", "c"] {
        let chain = Chain::new(
            &CertSpec::root(&format!("Root {ca}")),
            &CertSpec::intermediate(&format!("Intermediate {ca}")),
            &CertSpec::leaf(&format!("signer {ca}"), "P256"),
        );
        chain.write(&dir.join(ca));
        let p = |f: &str| format!("{ca}/{f}");
        let (key, cert, int, sig) = (
            p("leaf.key"),
            p("leaf.pem"),
            p("intermediate.pem"),
            format!("{ca}.sig"),
        );
        ours(
            dir,
            &[
                "sign",
                "certificate",
                "model",
                "--private_key",
                &key,
                "--signing_certificate",
                &cert,
                "--certificate_chain",
                &int,
                "--signature",
                &sig,
            ],
        )
        .assert_ok("sign certificate");
    }
    // A CA file without a final newline, concatenated with the next one.
    let root_a = std::fs::read_to_string(dir.join("a/root.pem")).unwrap();
    std::fs::write(dir.join("a/root-no-newline.pem"), root_a.trim_end()).unwrap();
    let root_b = std::fs::read_to_string(dir.join("b/root.pem")).unwrap();
    std::fs::write(dir.join("b/root-no-newline.pem"), root_b.trim_end()).unwrap();
    let cases: [(&str, &[&str], i32); 8] = [
        ("a.sig", &["a/root.pem", "b/root.pem"], 0),
        ("a.sig", &["b/root.pem", "a/root.pem"], 0),
        ("b.sig", &["a/root.pem", "b/root.pem"], 0),
        ("b.sig", &["b/root.pem", "a/root.pem"], 0),
        ("b.sig", &["a/root-no-newline.pem", "b/root.pem"], 0),
        (
            "a.sig",
            &["b/root-no-newline.pem", "a/root-no-newline.pem"],
            0,
        ),
        ("c.sig", &["a/root.pem", "b/root.pem"], 1),
        ("a.sig", &["b/root.pem", "c/root.pem"], 1),
    ];
    for (sig, cas, exit) in cases {
        let mut args = vec!["verify", "certificate", "model", "--signature", sig];
        for ca in cas {
            args.extend(["--certificate_chain", ca]);
        }
        let out = ours(dir, &args);
        assert_eq!(out.code, exit, "{sig} with {cas:?}: {out:?}");
        if exit == 1 {
            assert!(!out.failure().is_empty(), "{out:?}");
        }
    }
}

/// Runs `verify sigstore` on the genuine upstream v1.1.0 vector, offline, with `signers` flags.
fn upstream_sigstore(signers: &[&str]) -> Output {
    let upstream = conformance_dir().join("upstream");
    let mut args = vec![
        "verify",
        "sigstore",
        "v1.1.0-sigstore",
        "--signature",
        "v1.1.0-sigstore/model.sig",
        "--trust_config",
        "../public_good_trust_config.json",
    ];
    args.extend(signers);
    ours(&upstream, &args)
}

#[test]
fn sigstore_identity_regexps_on_the_genuine_upstream_vector() {
    assert_eq!(
        (IDENTITY, ISSUER),
        (
            "stefanb@us.ibm.com",
            "https://sigstore.verify.ibm.com/oauth2"
        )
    );
    let issuer_re = r"https://sigstore\.verify\.ibm\.com/oauth2";
    let verifies: [&[&str]; 6] = [
        &[
            "--identity-regexp",
            r"stefanb@us\.ibm\.com",
            "--identity-provider-regexp",
            issuer_re,
        ],
        &[
            "--identity-regexp",
            r"[a-z]+@us\.ibm\.com",
            "--identity-provider-regexp",
            r"https://sigstore\.verify\.ibm\.com/.*",
        ],
        &[
            "--identity_regexp",
            r".*@(us\.)?ibm\.com",
            "--identity_provider_regexp",
            r"https://[^/]+/oauth2",
        ],
        // Exact pairs: the second one is the signer.
        &[
            "--identity",
            "someone@example.com",
            "--identity_provider",
            "https://accounts.google.com",
            "--identity",
            IDENTITY,
            "--identity_provider",
            ISSUER,
        ],
        // An exact pair that does not match, and a regexp pair that does.
        &[
            "--identity",
            IDENTITY,
            "--identity_provider",
            "https://accounts.google.com",
            "--identity-regexp",
            r"stefanb@.*",
            "--identity-provider-regexp",
            issuer_re,
        ],
        // Repeated providers first, then identities: paired by position.
        &[
            "--identity_provider",
            "https://accounts.google.com",
            "--identity_provider",
            ISSUER,
            "--identity",
            "someone@example.com",
            "--identity",
            IDENTITY,
        ],
    ];
    for signers in verifies {
        let out = upstream_sigstore(signers);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "Verification succeeded\n"),
            "{signers:?}: {out:?}"
        );
    }
    let near_misses: [&[&str]; 7] = [
        // Would match a substring only: regexps are anchored.
        &[
            "--identity-regexp",
            r"us\.ibm\.com",
            "--identity-provider-regexp",
            issuer_re,
        ],
        &[
            "--identity-regexp",
            r"stefanb@us\.ibm\.co",
            "--identity-provider-regexp",
            issuer_re,
        ],
        &[
            "--identity-regexp",
            r"tefanb@us\.ibm\.com",
            "--identity-provider-regexp",
            issuer_re,
        ],
        &[
            "--identity-regexp",
            r"stefanb@us\.ibm\.com",
            "--identity-provider-regexp",
            r"https://sigstore\.verify\.ibm\.com",
        ],
        // Another issuer.
        &[
            "--identity-regexp",
            ".*",
            "--identity-provider-regexp",
            r"https://accounts\.google\.com",
        ],
        // Never a cross product: the identity is trusted from one issuer, the issuer for
        // another identity.
        &[
            "--identity",
            IDENTITY,
            "--identity_provider",
            "https://accounts.google.com",
            "--identity",
            "someone@example.com",
            "--identity_provider",
            ISSUER,
        ],
        &[
            "--identity-regexp",
            r"stefanb@.*",
            "--identity-provider-regexp",
            "https://accounts\\.google\\.com",
            "--identity-regexp",
            r"someone@.*",
            "--identity-provider-regexp",
            issuer_re,
        ],
    ];
    for signers in near_misses {
        let out = upstream_sigstore(signers);
        assert_eq!(out.code, 1, "{signers:?}: {out:?}");
        let failure = out.failure();
        assert!(
            failure.starts_with(&format!(
                "Certificate matches no trusted signer: its OIDC issuer is '{ISSUER}' and its SANs are {{'{IDENTITY}'}}; trusted: identity "
            )),
            "{signers:?}: {failure}"
        );
    }
    let out = upstream_sigstore(near_misses[0]);
    assert_eq!(
        out.failure(),
        format!(
            "Certificate matches no trusted signer: its OIDC issuer is '{ISSUER}' and its SANs are \
             {{'{IDENTITY}'}}; trusted: identity regexp 'us\\.ibm\\.com' from issuer regexp \
             '{issuer_re}' (a regexp must match the whole SAN or issuer, not a part of it)"
        )
    );
}

#[test]
fn sigstore_signer_flags_usage_errors_exit_2() {
    // (flags, what stderr says)
    let cases: [(&[&str], &str); 6] = [
        (
            &["--identity", IDENTITY],
            "got 1 --identity and 0 --identity_provider",
        ),
        (
            &[
                "--identity",
                IDENTITY,
                "--identity",
                "x",
                "--identity_provider",
                ISSUER,
            ],
            "--identity and --identity_provider are paired by position",
        ),
        (
            &[
                "--identity-regexp",
                "a",
                "--identity-regexp",
                "b",
                "--identity-provider-regexp",
                "c",
            ],
            "got 2 --identity-regexp and 1 --identity-provider-regexp",
        ),
        (&[], "a trusted signer is required"),
        (
            &[
                "--identity-regexp",
                "stefanb@(",
                "--identity-provider-regexp",
                ".*",
            ],
            "invalid value 'stefanb@(' for '--identity-regexp <REGEXP>'",
        ),
        (
            &[
                "--identity-regexp",
                ".*",
                "--identity-provider-regexp",
                "x)|(.*",
            ],
            "invalid value 'x)|(.*' for '--identity-provider-regexp <REGEXP>'",
        ),
    ];
    for (flags, needle) in cases {
        let out = upstream_sigstore(flags);
        assert_eq!(out.code, 2, "{flags:?}: {out:?}");
        assert!(out.stderr.contains(needle), "{flags:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{flags:?}: {out:?}");
    }
    // The same flags under `watch` (the continuous-validation agent) are usage errors too.
    let upstream = conformance_dir().join("upstream");
    let out = Output::from(
        std::process::Command::new(BIN)
            .args([
                "watch",
                "--health-port",
                "0",
                "verify",
                "sigstore",
                "v1.1.0-sigstore",
                "--signature",
                "v1.1.0-sigstore/model.sig",
                "--identity",
                IDENTITY,
            ])
            .current_dir(&upstream)
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("got 1 --identity and 0 --identity_provider"),
        "{out:?}"
    );
}

/// Pairs, never a cross product, on certificates the test Sigstore mints for each identity and
/// issuer: trusting a@X and b@Y admits neither a@Y nor b@X.
#[test]
fn sigstore_signers_are_pairs_not_a_cross_product() {
    let ms = MiniSigstore::new();
    let trust = || {
        TrustMaterial::from_json_bytes(
            ms.client_trust_config().to_string().as_bytes(),
            TrustSource::Bytes,
        )
        .unwrap()
    };
    let (a, b) = ("a@example.com", "b@example.org");
    let (x, y) = ("https://x.example", "https://y.example");
    let mint = |identity: &str, issuer: &str| {
        let m = Mint {
            sans: vec![SanType::Rfc822Name(identity.try_into().unwrap())],
            issuer_v1: Some(issuer.into()),
            issuer_v2: Some(issuer.into()),
            ..Mint::default()
        };
        ms.mint(&m).to_string()
    };
    let policies = [
        vec![SignerIdentity::exact(a, x), SignerIdentity::exact(b, y)],
        vec![
            SignerIdentity::regexp(r"a@example\.com", r"https://x\.example"),
            SignerIdentity::regexp(r"b@example\.org", r"https://y\.example"),
        ],
    ];
    for signers in policies {
        let verifier =
            SigstoreVerifier::new(IdentityPolicy::new(signers.clone()).unwrap(), trust()).unwrap();
        for (identity, issuer, admitted) in
            [(a, x, true), (b, y, true), (a, y, false), (b, x, false)]
        {
            let bundle = mint(identity, issuer);
            match verifier.verify_bundle(bundle.as_bytes()) {
                Ok(env) => {
                    assert!(admitted, "{signers:?} admitted {identity} from {issuer}");
                    assert_eq!(env.signer, identity);
                }
                Err(SigstoreError::Certificate(LeafError::NoSignerMatches {
                    issuer: got,
                    sans,
                    expected,
                })) => {
                    assert!(!admitted, "{signers:?} refused {identity} from {issuer}");
                    assert_eq!((got.as_str(), sans), (issuer, vec![identity.to_owned()]));
                    assert_eq!(expected, signers);
                }
                Err(e) => panic!("{identity} from {issuer}: {e}"),
            }
        }
    }
}
