//! Verifying a model: signature method → signed statement → local manifest → comparison.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::dsse::{WrongPayloadType, check_in_toto_payload_type};
use crate::input::{self, InputError};
use crate::manifest::{Manifest, Mismatch};
use crate::method::{SignatureVerifier, VerifiedEnvelope};
use crate::model::{self, ModelError, ModelSpec, Selection};
use crate::oci::OciSource;
use crate::posix;
use crate::statement::{self, StatementError};
use crate::walk::IgnoreSet;

/// What to verify and how: the model, the signature and the walk options (plain data; the
/// binary builds it from its command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The model directory or single file, as messages name it.
    pub model_path: PathBuf,
    /// The signature file.
    pub signature: PathBuf,
    /// An OCI image instead of a model directory: its manifest's layers are the items.
    pub oci: Option<OciSource>,
    /// Paths to leave out, relative to the current directory (dropped when outside the model).
    pub ignore_paths: Vec<PathBuf>,
    /// Leave out the top-level git names.
    pub ignore_git_paths: bool,
    /// The local symlink policy: `Some(true)` follow, `Some(false)` refuse a signature made with
    /// symlinks followed, `None` as the signature recorded.
    pub symlinks: Option<bool>,
    /// Only check the files the signature lists.
    pub ignore_unsigned_files: bool,
    /// Read large files that are not in the page cache with direct I/O.
    pub direct_io: bool,
}

impl VerifyOptions {
    /// `model_signing`'s defaults for the given model and signature.
    pub fn new(model_path: impl Into<PathBuf>, signature: impl Into<PathBuf>) -> Self {
        Self {
            model_path: model_path.into(),
            signature: signature.into(),
            oci: None,
            ignore_paths: Vec::new(),
            ignore_git_paths: true,
            symlinks: None,
            ignore_unsigned_files: false,
            direct_io: true,
        }
    }
}

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
    #[error(transparent)]
    ReadSignature(InputError),
    /// The signature method rejected the bundle.
    #[error(transparent)]
    Signature(Box<dyn std::error::Error + Send + Sync>),
    /// The envelope does not carry an in-toto statement.
    #[error(transparent)]
    PayloadType(#[from] WrongPayloadType),
    /// The statement is malformed.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// A validly signed but empty manifest would verify any model: refused.
    #[error(
        "The signature covers no files; refusing to accept it as a verification of '{}'",
        posix::shown(model)
    )]
    EmptyManifest {
        /// The model path.
        model: PathBuf,
    },
    /// The local policy says "no symlinks" (`--no-allow_symlinks`) but the signature was made
    /// with symlinks followed.
    #[error(
        "The signature was made with symbolic links followed (allow_symlinks: true), but symlinks are not allowed here (--no-allow_symlinks); refusing it"
    )]
    SymlinksNotAllowed,
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
            Self::ReadSignature(_) => "signature-unreadable",
            Self::Signature(_) => "signature-invalid",
            Self::PayloadType(_) | Self::Statement(_) | Self::EmptyManifest { .. } => {
                "statement-invalid"
            }
            Self::SymlinksNotAllowed => "policy-refused",
            Self::Model(_) | Self::Oci(_) => "model-unreadable",
            Self::Mismatch(_) => "model-mismatch",
        }
    }
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
    /// Walks (or lists) and hashes the whole local model (`watch` keeps the local manifest to
    /// tell which files differ).
    pub fn compute(&self) -> Result<model::Computed, ModelError> {
        let names = self.listed_names();
        model::compute(&self.spec, &self.ignore, self.selection(&names))
    }

    /// Checks the local model against the signed manifest, names first: an extra or missing
    /// file fails before any byte is hashed (issue 18: an unsigned 1 TiB sparse file was hashed
    /// for 15 minutes before being reported); then only the signed files are hashed.
    pub fn check(&self) -> Result<model::Computed, VerifyError> {
        let names = self.listed_names();
        let plan = model::plan(&self.spec, &self.ignore, self.selection(&names))?;
        Manifest::check_names(&self.spec.model_name(), &plan.keys, &self.expected)?;
        let computed = model::hash(&self.spec, plan)?;
        computed.manifest.check_against(&self.expected)?;
        Ok(computed)
    }

    fn listed_names(&self) -> Option<Vec<&str>> {
        self.listed
            .as_ref()
            .map(|names| names.iter().map(String::as_str).collect())
    }

    fn selection<'n>(&self, names: &'n Option<Vec<&'n str>>) -> Selection<'n> {
        match names {
            Some(names) => Selection::Listed(names),
            None => Selection::Walk,
        }
    }
}

/// The signature stage of a verification: reads and checks the signature file and parses the
/// signed statement; the model itself is not read.
pub(crate) fn verify_signature<V: SignatureVerifier>(
    verifier: &V,
    args: &VerifyOptions,
) -> Result<SignedModel, VerifyError> {
    let (signed, signer, warnings) = verify_statement(verifier, args)?;
    signed_model(verifier.method(), args, signed, signer, warnings)
}

/// Reads and checks the signature file and parses the signed statement.
fn verify_statement<V: SignatureVerifier>(
    verifier: &V,
    args: &VerifyOptions,
) -> Result<(statement::SignedStatement, String, Vec<String>), VerifyError> {
    let bundle = input::read_small_file(&args.signature).map_err(VerifyError::ReadSignature)?;
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
    check_in_toto_payload_type(&payload_type)?;
    let signed = statement::parse(&payload)?;
    drop(payload);
    if signed.manifest.resources.is_empty() {
        return Err(VerifyError::EmptyManifest {
            model: args.model_path.clone(),
        });
    }
    Ok((signed, signer, warnings))
}

/// How the local model is checked against a verified statement (the flags and what the
/// signature recorded).
fn signed_model(
    method: &'static str,
    args: &VerifyOptions,
    signed: statement::SignedStatement,
    signer: String,
    warnings: Vec<String>,
) -> Result<SignedModel, VerifyError> {
    let recorded = signed
        .serialization
        .as_ref()
        .map(|s| s.ignore_paths.clone())
        .unwrap_or_default();
    let recorded_symlinks = signed
        .serialization
        .as_ref()
        .is_some_and(|s| s.allow_symlinks);
    // A local policy can only restrict what the signature recorded (OMS v1.0 §6.1.1).
    if args.symlinks == Some(false) && recorded_symlinks {
        return Err(VerifyError::SymlinksNotAllowed);
    }
    let spec = ModelSpec {
        model_path: args.model_path.clone(),
        ignore_paths: args.ignore_paths.clone(),
        signature_path: Some(args.signature.clone()),
        ignore_git_paths: args.ignore_git_paths,
        allow_symlinks: args.symlinks == Some(true) || recorded_symlinks,
        hashing: signed.hashing(),
        direct_io: args.direct_io,
    };
    let ignore = spec.ignore_set(&recorded)?;
    let listed = args.ignore_unsigned_files.then(|| {
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
        method,
        signer,
        warnings,
        expected: signed.manifest,
        spec,
        ignore,
        listed,
    })
}

/// Verifies a model with a signature method and the options.
///
/// The local manifest is computed the way the signature was made: its serialization (files or
/// shards, SHA-256/BLAKE2b/BLAKE3, shard size), its `allow_symlinks` and its recorded
/// `ignore_paths` are honoured, on top of the command-line flags.
pub fn verify_model<V: SignatureVerifier>(
    verifier: &V,
    args: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let started = Instant::now();
    let (signed, signer, warnings) = verify_statement(verifier, args)?;
    if let Some(source) = &args.oci {
        return verify_oci_image(verifier, args, source, &signed, signer, warnings, started);
    }
    let signed = signed_model(verifier.method(), args, signed, signer, warnings)?;
    let computed = signed.check()?;
    Ok(VerifyReport {
        method: signed.method.to_owned(),
        signer: signed.signer,
        model: args.model_path.clone(),
        root_digest: format!("sha256:{}", hex::encode(computed.manifest.root_digest())),
        files: computed.files,
        bytes: computed.bytes,
        seconds: started.elapsed().as_secs_f64(),
        warnings: signed.warnings,
        image_digest: None,
    })
}

/// The OCI-image half of [`verify_model`]: the signed manifest against the image manifest's
/// layer digests (no blob is read).
fn verify_oci_image<V: SignatureVerifier>(
    verifier: &V,
    args: &VerifyOptions,
    source: &OciSource,
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
    let image = OciImage::open(source)?;
    let (local, warning) = image.local_manifest(signed, args.ignore_unsigned_files)?;
    local.check_against(&signed.manifest)?;
    warnings.extend(warning);
    Ok(VerifyReport {
        method: verifier.method().to_owned(),
        signer,
        model: source.path().to_owned(),
        root_digest: format!("sha256:{}", hex::encode(local.root_digest())),
        files: local.resources.len(),
        bytes: 0,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
        image_digest: Some(image.manifest_digest),
    })
}
