//! The parts of §6.3 (f) and (i) the keyless library checks differently from sigstore-python,
//! checked here with Python's rules on top of the library's own checks:
//!
//! - the checkpoint text contains exactly one blank line, and it carries a signature whose key
//!   hint is the entry's `logId` and which verifies with *that* log's key (the library accepts a
//!   signature by any trusted log);
//! - the entry body is bound to this envelope exactly as Python binds it (`dsse` 0.0.1: payload
//!   hash and the exact `[{signature, verifier}]` list; `hashedrekord` 0.0.2: PAE digest,
//!   signature, certificate and key details).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sigstore_trust_root::TrustedRoot;
use sigstore_types::{Checkpoint, SignatureBytes};

use super::SigstoreError;
use super::bundle::{CheckedBundle, EntryKind};

fn rekor(msg: impl Into<String>) -> SigstoreError {
    SigstoreError::Rekor(msg.into())
}

/// The checkpoint must be signed by the log the entry names.
pub(crate) fn check_checkpoint_binding(
    bundle: &CheckedBundle,
    root: &TrustedRoot,
) -> Result<(), SigstoreError> {
    let text = &bundle.entry.checkpoint;
    if text.matches("\n\n").count() != 1 {
        return Err(rekor(
            "invalid log entry: checkpoint: malformed note (expected exactly one blank line)",
        ));
    }
    let origin_host = strict_note_shape(text)?;
    let cp = Checkpoint::from_text(text)
        .map_err(|e| rekor(format!("invalid log entry: checkpoint: {e}")))?;
    // The signed tree head must be the one the proof was computed for (sigstore-python does not
    // compare the sizes; a proof can fold to the same root for a neighbouring size).
    if cp.tree_size() != bundle.entry.tree_size {
        return Err(rekor(format!(
            "invalid log entry: checkpoint tree size {} differs from the inclusion proof's {}",
            cp.tree_size(),
            bundle.entry.tree_size
        )));
    }
    // Rekor v2 proofs repeat the root in the bundle; the library ignores that copy, Python folds
    // the proof to it and compares it with the checkpoint. Both must agree.
    if cp.root_hash().as_slice() != bundle.entry.root_hash.as_slice() {
        return Err(rekor(
            "invalid log entry: checkpoint root hash differs from the inclusion proof's root hash",
        ));
    }
    let log_id = &bundle.entry.log_id;
    let log_hex = hex::encode(log_id);
    let hint = log_id
        .get(..4)
        .ok_or_else(|| rekor(format!("invalid log entry: malformed log ID {log_hex}")))?;
    let sig = cp
        .signatures()
        .iter()
        .find(|s| s.key_id.as_slice() == hint)
        .ok_or_else(|| {
            rekor(format!(
                "invalid log entry: checkpoint: Signature not found for log ID {log_hex}"
            ))
        })?;
    // Rekor names its checkpoint signature after the host that starts the origin line
    // (`rekor.sigstore.dev - <tree id>`, or the whole origin for Rekor v2); the name is not
    // covered by the signature, so it is pinned to the signed origin here.
    if sig.name != origin_host {
        return Err(rekor(format!(
            "invalid log entry: checkpoint: signature name '{}' does not match the origin '{}'",
            sig.name, origin_host
        )));
    }
    let log = root
        .tlogs
        .iter()
        .find(|t| t.log_id.key_id.as_bytes() == log_id.as_slice())
        .ok_or_else(|| {
            rekor(format!(
                "invalid log entry: the trusted root has no transparency log with ID {log_hex}"
            ))
        })?;
    let key = sigstore_verify::crypto::VerificationKey::from_spki(&log.public_key.raw_bytes)
        .map_err(|e| {
            rekor(format!(
                "invalid log entry: unusable log key {log_hex}: {e}"
            ))
        })?;
    key.verify(
        cp.signed_data(),
        &SignatureBytes::new(sig.signature.as_bytes().to_vec()),
    )
    .map_err(|_| {
        rekor("invalid log entry: checkpoint: invalid signature: keyring: invalid signature")
    })
}

/// The signed-note layout, strictly: `<origin>\n<size>\n<root>\n[lines\n]\n` then one or more
/// `— <name> <base64>\n` lines with single spaces. Returns the origin's first token.
fn strict_note_shape(text: &str) -> Result<&str, SigstoreError> {
    let malformed = |why: &str| {
        rekor(format!(
            "invalid log entry: checkpoint: malformed note ({why})"
        ))
    };
    let (body, sigs) = text
        .split_once("\n\n")
        .ok_or_else(|| malformed("no blank line"))?;
    let mut lines = body.split('\n');
    let origin = lines.next().unwrap_or_default();
    let size = lines.next().unwrap_or_default();
    let root = lines.next().unwrap_or_default();
    if origin.is_empty() || origin.trim() != origin {
        return Err(malformed("bad origin line"));
    }
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("bad tree size line"));
    }
    if root.is_empty() || root.trim() != root {
        return Err(malformed("bad root hash line"));
    }
    let sigs = sigs
        .strip_suffix('\n')
        .ok_or_else(|| malformed("signature lines must end with a newline"))?;
    if sigs.is_empty() {
        return Err(malformed("no signature line"));
    }
    for line in sigs.split('\n') {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| malformed("a signature line must start with an em dash and a space"))?;
        let (name, sig) = rest
            .split_once(' ')
            .ok_or_else(|| malformed("a signature line needs a name and a signature"))?;
        let bad_token = |t: &str| t.is_empty() || t.chars().any(char::is_whitespace);
        if bad_token(name) || bad_token(sig) {
            return Err(malformed("bad signature line"));
        }
    }
    origin
        .split(' ')
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| malformed("bad origin line"))
}

/// §6.3 (i): the body describes this envelope.
pub(crate) fn check_body_binding(bundle: &CheckedBundle) -> Result<(), SigstoreError> {
    let body: Value = serde_json::from_slice(&bundle.entry.canonicalized_body).map_err(|e| {
        rekor(format!(
            "invalid log entry: the entry body is not JSON: {e}"
        ))
    })?;
    let field = |path: &str| body.pointer(path).and_then(Value::as_str);
    match bundle.entry.kind {
        EntryKind::DsseV001 => {
            if field("/kind") != Some("dsse") || field("/apiVersion") != Some("0.0.1") {
                return Err(rekor("log entry body is not a dsse 0.0.1 entry"));
            }
            let hash_ok = field("/spec/payloadHash/algorithm") == Some("sha256")
                && field("/spec/payloadHash/value")
                    == Some(hex::encode(Sha256::digest(&bundle.payload)).as_str());
            if !hash_ok {
                return Err(rekor("log entry payload hash does not match bundle"));
            }
            let expected = serde_json::json!([{
                "signature": STANDARD.encode(&bundle.signature),
                "verifier": STANDARD.encode(leaf_pem(&bundle.leaf_der)),
            }]);
            if body.pointer("/spec/signatures") != Some(&expected) {
                return Err(rekor("log entry signatures do not match bundle"));
            }
        }
        EntryKind::HashedRekordV002 => {
            if field("/kind") != Some("hashedrekord") || field("/apiVersion") != Some("0.0.2") {
                return Err(rekor("log entry body is not a hashedrekord 0.0.2 entry"));
            }
            let pae = sigstore_types::pae(&bundle.payload_type, &bundle.payload);
            let spec = "/spec/hashedRekordV002";
            let b64 = |path: &str| field(path).and_then(|s| STANDARD.decode(s).ok());
            let ok = field(&format!("{spec}/data/algorithm")) == Some("SHA2_256")
                && b64(&format!("{spec}/data/digest")).as_deref()
                    == Some(Sha256::digest(&pae).as_slice())
                && b64(&format!("{spec}/signature/content")).as_deref()
                    == Some(bundle.signature.as_slice())
                && b64(&format!(
                    "{spec}/signature/verifier/x509Certificate/rawBytes"
                ))
                .as_deref()
                    == Some(bundle.leaf_der.as_slice())
                && field(&format!("{spec}/signature/verifier/keyDetails"))
                    == Some("PKIX_ECDSA_P256_SHA_256");
            if !ok {
                return Err(rekor(
                    "log entry body does not match the bundle (hashedrekord 0.0.2)",
                ));
            }
        }
    }
    Ok(())
}

/// The leaf as `cryptography` writes PEM: 64-character lines, LF, trailing LF.
pub(crate) fn leaf_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
