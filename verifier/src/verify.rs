//! Verifying a model: signature method → signed statement → local manifest → comparison.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use mv_shared::verify::{ColdReads, CommonVerifyArgs};
use serde::Serialize;

use crate::envelope::{SignatureVerifier, VerifiedEnvelope};
use crate::manifest::{Manifest, Mismatch};
use crate::model::{self, ModelError, ModelSpec, Selection};
use crate::posix;
use crate::statement::{self, PAYLOAD_TYPE, StatementError};
use crate::walk::IgnoreSet;

/// Signature files larger than this are refused (a bundle is a few KiB).
pub const MAX_SIGNATURE_BYTES: u64 = 64 << 20;

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// `key`, `certificate` or `sigstore`.
    pub method: String,
    /// Who signed: key hint, certificate subject or Sigstore identity.
    pub signer: String,
    /// The model path, as given.
    pub model: PathBuf,
    /// `sha256:<hex>` root digest of the verified manifest.
    pub root_digest: String,
    /// Files checked.
    pub files: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// Wall time of the whole verification.
    pub seconds: f64,
    /// Warnings `model_signing` prints before success (legacy signature format).
    pub warnings: Vec<String>,
}

/// Verification failed. The messages are `model_signing`'s where it has a real one.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The signature file cannot be read.
    #[error("{message}")]
    ReadSignature {
        /// The file.
        path: PathBuf,
        /// `[Errno 2] No such file or directory: '<path>'`, as Python words it.
        message: String,
    },
    /// The signature method rejected the bundle.
    #[error(transparent)]
    Signature(Box<dyn std::error::Error + Send + Sync>),
    /// The envelope does not carry an in-toto statement.
    #[error("Expected DSSE payload {PAYLOAD_TYPE}, but got {0}")]
    PayloadType(String),
    /// The statement is malformed.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// A validly signed but empty manifest would verify any model: refused.
    #[error("The signature covers no files; refusing to accept it as a verification of '{}'", model.display())]
    EmptyManifest {
        /// The model path.
        model: PathBuf,
    },
    /// The model could not be walked or read.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The model differs from what was signed.
    #[error(transparent)]
    Mismatch(#[from] Mismatch),
}

impl VerifyError {
    /// A short machine-readable class for reports and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ReadSignature { .. } => "signature-unreadable",
            Self::Signature(_) => "signature-invalid",
            Self::PayloadType(_) | Self::Statement(_) | Self::EmptyManifest { .. } => {
                "statement-invalid"
            }
            Self::Model(_) => "model-unreadable",
            Self::Mismatch(_) => "model-mismatch",
        }
    }
}

/// `[Errno N] <strerror>: '<path>'`, the way Python reports an `OSError`.
pub fn python_os_error(e: &io::Error, path: &Path) -> String {
    let shown = posix::repr_str(&path.to_string_lossy());
    match e.raw_os_error() {
        Some(n) => {
            let text = e.to_string();
            let text = text
                .strip_suffix(&format!(" (os error {n})"))
                .unwrap_or(&text)
                .to_owned();
            format!("[Errno {n}] {text}: {shown}")
        }
        None => format!("{e}: {shown}"),
    }
}

/// Reads a small input file (signature, key, certificate chain, trust config), refusing anything
/// over [`MAX_SIGNATURE_BYTES`]; errors are worded like Python's `OSError`.
pub fn read_small_file(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| python_os_error(&e, path))?;
    let mut bytes = Vec::new();
    file.take(MAX_SIGNATURE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| python_os_error(&e, path))?;
    if bytes.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(format!(
            "'{}' is larger than {} MiB; signatures, keys and certificates are a few KiB",
            path.display(),
            MAX_SIGNATURE_BYTES >> 20
        ));
    }
    Ok(bytes)
}

/// Reads the signature file.
pub fn read_signature(path: &Path) -> Result<Vec<u8>, VerifyError> {
    read_small_file(path).map_err(|message| VerifyError::ReadSignature {
        path: path.to_owned(),
        message,
    })
}

/// A signature that verified, and the model check it asks for: the signed manifest and how to
/// rebuild the local one (the first stage of [`verify_model`], kept by `watch` between checks).
#[derive(Debug, Clone)]
pub struct SignedModel {
    /// `key`, `certificate` or `sigstore`.
    pub method: &'static str,
    /// Who signed.
    pub signer: String,
    /// Warnings of the signature method.
    pub warnings: Vec<String>,
    /// The signed manifest.
    pub expected: Manifest,
    /// How the local manifest is computed (the signed serialization and the flags).
    pub spec: ModelSpec,
    /// The ignore set (flags, signature, git names, the signature's recorded `ignore_paths`).
    pub ignore: IgnoreSet,
    /// With `--ignore_unsigned_files`: the signed file names, the only files looked at.
    pub listed: Option<Vec<String>>,
}

impl SignedModel {
    /// Walks (or lists) and hashes the local model.
    pub fn compute(&self) -> Result<model::Computed, ModelError> {
        match &self.listed {
            Some(names) => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                model::compute(&self.spec, &self.ignore, Selection::Listed(&names))
            }
            None => model::compute(&self.spec, &self.ignore, Selection::Walk),
        }
    }
}

/// The signature stage of a verification: reads and checks the signature file and parses the
/// signed statement; the model itself is not read.
pub fn verify_signature<V: SignatureVerifier>(
    verifier: &V,
    args: &CommonVerifyArgs,
) -> Result<SignedModel, VerifyError> {
    let bundle = read_signature(&args.signature)?;
    let envelope = verifier
        .verify_bundle(&bundle)
        .map_err(|e| VerifyError::Signature(Box::new(e)))?;
    // Large models have multi-MiB signatures: free each stage before the next one allocates,
    // so the peak is the largest stage, not their sum.
    drop(bundle);
    let VerifiedEnvelope {
        payload_type,
        payload,
        signer,
        warnings,
    } = envelope;
    if payload_type != PAYLOAD_TYPE {
        return Err(VerifyError::PayloadType(payload_type));
    }
    let signed = statement::parse(&payload)?;
    drop(payload);
    if signed.manifest.resources.is_empty() {
        return Err(VerifyError::EmptyManifest {
            model: args.model_path.clone(),
        });
    }
    let recorded = signed
        .serialization
        .as_ref()
        .map(|s| s.ignore_paths.clone())
        .unwrap_or_default();
    let spec = ModelSpec {
        model_path: args.model_path.clone(),
        ignore_paths: args.ignore_paths.clone(),
        signature_path: Some(args.signature.clone()),
        ignore_git_paths: args.effective_ignore_git_paths(),
        allow_symlinks: args.allow_symlinks
            || signed
                .serialization
                .as_ref()
                .is_some_and(|s| s.allow_symlinks),
        hashing: signed.hashing(),
        direct_io: args.cold_reads == ColdReads::Direct,
    };
    let ignore = spec.ignore_set(&recorded)?;
    let listed = args.effective_ignore_unsigned_files().then(|| {
        let mut names: Vec<String> = signed
            .manifest
            .resources
            .keys()
            .map(|k| k.file_name().to_owned())
            .collect();
        names.dedup();
        names
    });
    Ok(SignedModel {
        method: verifier.method(),
        signer,
        warnings,
        expected: signed.manifest,
        spec,
        ignore,
        listed,
    })
}

/// Verifies a model with a signature method and the command line's options.
///
/// The local manifest is computed the way the signature was made: its serialization (files or
/// shards, SHA-256/BLAKE2b/BLAKE3, shard size), its `allow_symlinks` and its recorded
/// `ignore_paths` are honoured, on top of the command-line flags.
pub fn verify_model<V: SignatureVerifier>(
    verifier: &V,
    args: &CommonVerifyArgs,
) -> Result<VerifyReport, VerifyError> {
    let started = Instant::now();
    let signed = verify_signature(verifier, args)?;
    let computed = signed.compute()?;
    computed.manifest.check_against(&signed.expected)?;
    Ok(VerifyReport {
        method: signed.method.to_owned(),
        signer: signed.signer,
        model: args.model_path.clone(),
        root_digest: format!("sha256:{}", hex::encode(computed.manifest.root_digest())),
        files: computed.files,
        bytes: computed.bytes,
        seconds: started.elapsed().as_secs_f64(),
        warnings: signed.warnings,
    })
}
