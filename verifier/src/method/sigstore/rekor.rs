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

use super::bundle::{CheckedBundle, EntryKind};
use crate::pem::python_pem;

/// Why the log entry, its checkpoint or its body is not acceptable (§6.3 (f), (i)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RekorError {
    /// An entry kind other than `dsse` 0.0.1 and `hashedrekord` 0.0.2.
    #[error("Unsupported DSSE log entry type: {kind}/{version}")]
    UnsupportedEntryType {
        /// `kindVersion.kind`.
        kind: String,
        /// `kindVersion.version`.
        version: String,
    },
    /// A Rekor v2 entry with a SET-authenticated `integratedTime`.
    #[error("Integrated time only supported for dsse/hashedrekord 0.0.1 types")]
    IntegratedTimeOnV2,
    /// The checkpoint is not a signed note of the strict layout.
    #[error("invalid log entry: checkpoint: malformed note ({0})")]
    MalformedNote(&'static str),
    /// The checkpoint does not parse.
    #[error("invalid log entry: checkpoint: {0}")]
    Checkpoint(sigstore_types::Error),
    /// The checkpoint signs another tree size than the proof's.
    #[error(
        "invalid log entry: checkpoint tree size {checkpoint} differs from the inclusion proof's {proof}"
    )]
    TreeSizeMismatch {
        /// The checkpoint's tree size.
        checkpoint: u64,
        /// The proof's tree size.
        proof: u64,
    },
    /// The checkpoint signs another root than the proof's.
    #[error("invalid log entry: checkpoint root hash differs from the inclusion proof's root hash")]
    RootHashMismatch,
    /// The log ID is shorter than a key hint.
    #[error("invalid log entry: malformed log ID {}", hex::encode(.0))]
    MalformedLogId(Vec<u8>),
    /// No checkpoint signature carries the entry's log key hint.
    #[error("invalid log entry: checkpoint: Signature not found for log ID {}", hex::encode(.0))]
    SignatureNotFound(Vec<u8>),
    /// The checkpoint signature's name is not the origin's.
    #[error(
        "invalid log entry: checkpoint: signature name '{name}' does not match the origin '{origin}'"
    )]
    SignerNameMismatch {
        /// The signature line's name.
        name: String,
        /// The origin line's first token.
        origin: String,
    },
    /// The trusted root has no log with the entry's ID.
    #[error(
        "invalid log entry: the trusted root has no transparency log with ID {}",
        hex::encode(.0)
    )]
    UnknownLog(Vec<u8>),
    /// The trusted log's key cannot verify.
    #[error("invalid log entry: unusable log key {}: {error}", hex::encode(log_id))]
    UnusableLogKey {
        /// The log ID.
        log_id: Vec<u8>,
        /// The library's complaint.
        error: sigstore_verify::crypto::Error,
    },
    /// The checkpoint signature does not verify with the log's key.
    #[error("invalid log entry: checkpoint: invalid signature: keyring: invalid signature")]
    CheckpointSignature,
    /// The entry body is not JSON.
    #[error("invalid log entry: the entry body is not JSON: {0}")]
    BodyNotJson(serde_json::Error),
    /// The body of a `dsse` entry is of another kind.
    #[error("log entry body is not a dsse 0.0.1 entry")]
    NotDsse,
    /// The `dsse` body's payload hash is not the envelope's.
    #[error("log entry payload hash does not match bundle")]
    PayloadHashMismatch,
    /// The `dsse` body's signatures are not the envelope's.
    #[error("log entry signatures do not match bundle")]
    SignaturesMismatch,
    /// The body of a `hashedrekord` entry is of another kind.
    #[error("log entry body is not a hashedrekord 0.0.2 entry")]
    NotHashedRekord,
    /// The `hashedrekord` body does not describe this envelope.
    #[error("log entry body does not match the bundle (hashedrekord 0.0.2)")]
    HashedRekordMismatch,
}

/// The checkpoint must be signed by the log the entry names.
pub(crate) fn check_checkpoint_binding(
    bundle: &CheckedBundle,
    root: &TrustedRoot,
) -> Result<(), RekorError> {
    let text = &bundle.entry.checkpoint;
    if text.matches("\n\n").count() != 1 {
        return Err(RekorError::MalformedNote("expected exactly one blank line"));
    }
    let origin_host = strict_note_shape(text)?;
    let cp = Checkpoint::from_text(text).map_err(RekorError::Checkpoint)?;
    // The signed tree head must be the one the proof was computed for (sigstore-python does not
    // compare the sizes; a proof can fold to the same root for a neighbouring size).
    if cp.tree_size() != bundle.entry.tree_size {
        return Err(RekorError::TreeSizeMismatch {
            checkpoint: cp.tree_size(),
            proof: bundle.entry.tree_size,
        });
    }
    // Rekor v2 proofs repeat the root in the bundle; the library ignores that copy, Python folds
    // the proof to it and compares it with the checkpoint. Both must agree.
    if cp.root_hash().as_slice() != bundle.entry.root_hash.as_slice() {
        return Err(RekorError::RootHashMismatch);
    }
    let log_id = &bundle.entry.log_id;
    let hint = log_id
        .get(..4)
        .ok_or_else(|| RekorError::MalformedLogId(log_id.clone()))?;
    let sig = cp
        .signatures()
        .iter()
        .find(|s| s.key_id.as_slice() == hint)
        .ok_or_else(|| RekorError::SignatureNotFound(log_id.clone()))?;
    // Rekor names its checkpoint signature after the host that starts the origin line
    // (`rekor.sigstore.dev - <tree id>`, or the whole origin for Rekor v2); the name is not
    // covered by the signature, so it is pinned to the signed origin here.
    if sig.name != origin_host {
        return Err(RekorError::SignerNameMismatch {
            name: sig.name.clone(),
            origin: origin_host.to_owned(),
        });
    }
    let log = root
        .tlogs
        .iter()
        .find(|t| t.log_id.key_id.as_bytes() == log_id.as_slice())
        .ok_or_else(|| RekorError::UnknownLog(log_id.clone()))?;
    let key = sigstore_verify::crypto::VerificationKey::from_spki(&log.public_key.raw_bytes)
        .map_err(|error| RekorError::UnusableLogKey {
            log_id: log_id.clone(),
            error,
        })?;
    key.verify(
        cp.signed_data(),
        &SignatureBytes::new(sig.signature.as_bytes().to_vec()),
    )
    .map_err(|_| RekorError::CheckpointSignature)
}

/// The signed-note layout, strictly: `<origin>\n<size>\n<root>\n[lines\n]\n` then one or more
/// `— <name> <base64>\n` lines with single spaces. Returns the origin's first token.
fn strict_note_shape(text: &str) -> Result<&str, RekorError> {
    let malformed = RekorError::MalformedNote;
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
pub(crate) fn check_body_binding(bundle: &CheckedBundle) -> Result<(), RekorError> {
    let body: Value = serde_json::from_slice(&bundle.entry.canonicalized_body)
        .map_err(RekorError::BodyNotJson)?;
    let field = |path: &str| body.pointer(path).and_then(Value::as_str);
    match bundle.entry.kind {
        EntryKind::DsseV001 => {
            if field("/kind") != Some("dsse") || field("/apiVersion") != Some("0.0.1") {
                return Err(RekorError::NotDsse);
            }
            let hash_ok = field("/spec/payloadHash/algorithm") == Some("sha256")
                && field("/spec/payloadHash/value")
                    == Some(hex::encode(Sha256::digest(&bundle.payload)).as_str());
            if !hash_ok {
                return Err(RekorError::PayloadHashMismatch);
            }
            let expected = serde_json::json!([{
                "signature": STANDARD.encode(&bundle.signature),
                "verifier": STANDARD.encode(python_pem("CERTIFICATE", &bundle.leaf_der)),
            }]);
            if body.pointer("/spec/signatures") != Some(&expected) {
                return Err(RekorError::SignaturesMismatch);
            }
        }
        EntryKind::HashedRekordV002 => {
            if field("/kind") != Some("hashedrekord") || field("/apiVersion") != Some("0.0.2") {
                return Err(RekorError::NotHashedRekord);
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
                return Err(RekorError::HashedRekordMismatch);
            }
        }
    }
    Ok(())
}
