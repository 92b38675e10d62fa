//! Verifying a model: signature method → signed statement → local manifest → comparison.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use mv_shared::verify::{ColdReads, CommonVerifyArgs};
use serde::Serialize;

use crate::envelope::{SignatureVerifier, VerifiedEnvelope};
use crate::manifest::Mismatch;
use crate::model::{self, ModelError, ModelSpec, Selection};
use crate::posix;
use crate::statement::{self, PAYLOAD_TYPE, StatementError};

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
    /// With `--oci-manifest`/`--oci-layout`: `sha256:<hex>` of the image manifest verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
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
    /// The OCI image (`--oci-manifest`, `--oci-layout`) cannot be used.
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
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
            Self::Model(_) | Self::Oci(_) => "model-unreadable",
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
    if args.oci.is_set() {
        return verify_oci_image(verifier, args, &signed, signer, warnings, started);
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
    let mut names: Vec<&str> = signed
        .manifest
        .resources
        .keys()
        .map(|k| k.file_name())
        .collect();
    names.dedup();
    let selection = if args.effective_ignore_unsigned_files() {
        Selection::Listed(&names)
    } else {
        Selection::Walk
    };
    let computed = model::compute(&spec, &ignore, selection)?;
    computed.manifest.check_against(&signed.manifest)?;
    Ok(VerifyReport {
        method: verifier.method().to_owned(),
        signer,
        model: args.model_path.clone(),
        root_digest: format!("sha256:{}", hex::encode(computed.manifest.root_digest())),
        files: computed.files,
        bytes: computed.bytes,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
        image_digest: None,
    })
}

/// The OCI-image half of [`verify_model`]: the signed manifest against the image manifest's
/// layer digests (no blob is read).
fn verify_oci_image<V: SignatureVerifier>(
    verifier: &V,
    args: &CommonVerifyArgs,
    signed: &statement::SignedStatement,
    signer: String,
    mut warnings: Vec<String>,
    started: Instant,
) -> Result<VerifyReport, VerifyError> {
    use crate::oci::{OciError, OciImage};
    if !args.ignore_paths.is_empty() {
        return Err(OciError::Option {
            option: "--ignore-paths",
        }
        .into());
    }
    let image = OciImage::from_args(&args.oci)?;
    let (local, warning) = image.local_manifest(signed, args.effective_ignore_unsigned_files())?;
    local.check_against(&signed.manifest)?;
    warnings.extend(warning);
    Ok(VerifyReport {
        method: verifier.method().to_owned(),
        signer,
        model: args
            .oci
            .oci_manifest
            .clone()
            .or_else(|| args.oci.oci_layout.clone())
            .unwrap_or_default(),
        root_digest: format!("sha256:{}", hex::encode(local.root_digest())),
        files: local.resources.len(),
        bytes: 0,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
        image_digest: Some(image.manifest_digest),
    })
}
