//! The subcommands: argument types and what each one prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use model_verifier::bundle::Bundle;
use model_verifier::envelope::SignatureVerifier;
use model_verifier::hashing::{DEFAULT_SHARD_SIZE, HashAlgorithm, HashingConfig, Serialization};
use model_verifier::input::{self, InputError};
use model_verifier::keys::{KeyError, KeyVerifier};
use model_verifier::manifest::Manifest;
use model_verifier::model::{self, ModelError, ModelSpec, Selection};
use model_verifier::oci::{OciError, OciImage, OciSource};
use model_verifier::pki::{CertificateVerifier, TrustError};
use model_verifier::posix::pathlib;
use model_verifier::sign::{self, SignError, SigningKey};
use model_verifier::sigstore::{IdentityPolicy, SigstoreError, SigstoreVerifier, TrustMaterial};
use model_verifier::verify::{VerifyError, VerifyOptions, verify_model};
use mv_shared::verify::{
    CertificateArgs, ColdReads, CommonVerifyArgs, KeyArgs, OciArgs, Outcome, OutputFormat,
    SigstoreArgs, TerminationReport, VerifyCommand, VerifyMethod, WalkArgs,
};

/// Why `sign`, `digest` or the set-up of a `verify` method failed (the messages are
/// `model_signing`'s where it has one).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// An input file cannot be read, or the signature cannot be written.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The public key cannot be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The trusted certificates cannot be used.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The Sigstore trust material cannot be used.
    #[error(transparent)]
    Sigstore(#[from] SigstoreError),
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The model cannot be walked or read.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The OCI image cannot be used.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// `--image` or `--oci-exclude-config` without an image.
    #[error("--image and --oci-exclude-config need --oci-layout or --oci-manifest")]
    OciOptionsWithoutImage,
    /// `digest` of an OCI image with other hashing than the layers' own.
    #[error(
        "an OCI image's items are SHA-256 layer digests: --serialization files --hash sha256 only"
    )]
    OciHashing,
}

/// `sign key|certificate ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SignMethod {
    /// Sign with an elliptic-curve private key (P-256, P-384 or P-521).
    Key(SignKeyArgs),
    /// Sign with a private key and its certificate (plus the chain to record in the bundle).
    Certificate(SignCertificateArgs),
}

/// The model and the walk options of `sign` and `digest` (as `model_signing`).
#[derive(Debug, Args)]
pub(crate) struct ModelArgs {
    #[command(flatten)]
    pub(crate) walk: WalkArgs,
    /// Extension, with an OCI image: leave the config blob (`config.json`) out of the items.
    #[arg(long = "oci-exclude-config", visible_alias = "oci_exclude_config")]
    pub(crate) oci_exclude_config: bool,
}

impl ModelArgs {
    /// The OCI image the flags name, if any.
    fn oci_image(&self) -> Option<Result<OciImage, CliError>> {
        let walk = &self.walk;
        if !walk.oci.is_set() {
            return (walk.oci.image.is_some() || self.oci_exclude_config)
                .then_some(Err(CliError::OciOptionsWithoutImage));
        }
        if !walk.ignore_paths.is_empty() {
            return Some(Err(OciError::Option {
                option: "--ignore-paths",
            }
            .into()));
        }
        let image = oci_source(&walk.oci)
            .and_then(|source| source.ok_or(OciError::ImageWithoutLayout))
            .and_then(|source| OciImage::open(&source));
        Some(image.map_err(CliError::from))
    }

    /// The model spec these flags describe (paths spelt as pathlib spells them).
    fn spec(&self, signature_path: Option<PathBuf>, hashing: HashingConfig) -> ModelSpec {
        let walk = &self.walk;
        ModelSpec {
            model_path: pathlib(&walk.model_path),
            ignore_paths: walk.ignore_paths.clone(),
            signature_path,
            ignore_git_paths: walk.effective_ignore_git_paths(),
            allow_symlinks: walk.symlink_policy() == Some(true),
            hashing,
            direct_io: walk.cold_reads == ColdReads::Direct,
        }
    }
}

/// The image source the OCI flags name (`None` without `--oci-manifest`/`--oci-layout`).
fn oci_source(oci: &OciArgs) -> Result<Option<OciSource>, OciError> {
    OciSource::from_options(
        oci.oci_manifest.as_deref(),
        oci.oci_layout.as_deref(),
        oci.image.as_deref(),
    )
}

/// The library's options for a `verify` command line (paths as pathlib spells them, so
/// messages name files exactly as `model_signing` does). `--image` alone is not an image.
pub(crate) fn verify_options(common: &CommonVerifyArgs) -> Result<VerifyOptions, OciError> {
    let walk = &common.walk;
    Ok(VerifyOptions {
        model_path: pathlib(&walk.model_path),
        signature: pathlib(&common.signature),
        oci: if walk.oci.is_set() {
            oci_source(&walk.oci)?
        } else {
            None
        },
        ignore_paths: walk.ignore_paths.clone(),
        ignore_git_paths: walk.effective_ignore_git_paths(),
        symlinks: walk.symlink_policy(),
        ignore_unsigned_files: common.effective_ignore_unsigned_files(),
        direct_io: walk.cold_reads == ColdReads::Direct,
    })
}

/// Options every `sign` method takes (as `model_signing sign`).
#[derive(Debug, Args)]
pub(crate) struct CommonSignArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Where to write the signature (relative to the current directory).
    #[arg(long, value_name = "SIGNATURE_PATH", default_value = "model.sig")]
    pub(crate) signature: PathBuf,
}

/// `sign key MODEL_PATH --private_key PEM [--password PW] ...`
#[derive(Debug, Args)]
pub(crate) struct SignKeyArgs {
    #[command(flatten)]
    pub(crate) common: CommonSignArgs,
    /// PEM file with the EC private key (PKCS#8, SEC1, or encrypted PKCS#8 with `--password`).
    #[arg(
        long = "private_key",
        visible_alias = "private-key",
        value_name = "PRIVATE_KEY"
    )]
    pub(crate) private_key: PathBuf,
    /// Password of an encrypted private key.
    #[arg(long, value_name = "PASSWORD")]
    pub(crate) password: Option<String>,
}

/// `sign certificate MODEL_PATH --private_key PEM --signing_certificate PEM ...`
#[derive(Debug, Args)]
pub(crate) struct SignCertificateArgs {
    #[command(flatten)]
    pub(crate) common: CommonSignArgs,
    /// PEM file with the EC private key of the signing certificate.
    #[arg(
        long = "private_key",
        visible_alias = "private-key",
        value_name = "PRIVATE_KEY"
    )]
    pub(crate) private_key: PathBuf,
    /// PEM file with the signing certificate; its key must be the private key's.
    #[arg(
        long = "signing_certificate",
        visible_alias = "signing-certificate",
        value_name = "CERTIFICATE_PATH"
    )]
    pub(crate) signing_certificate: PathBuf,
    /// PEM file(s) with the certificates to record after the signing certificate
    /// (intermediates, optionally the root). Repeat the flag for several files.
    #[arg(
        long = "certificate_chain",
        visible_alias = "certificate-chain",
        value_name = "CERTIFICATE_PATH"
    )]
    pub(crate) certificate_chain: Vec<PathBuf>,
}

/// `digest MODEL_PATH ...`
#[derive(Debug, Args)]
pub(crate) struct DigestArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// One resource per file, or per shard of `--shard-size` bytes (extension).
    #[arg(long, value_enum, default_value_t = SerializationArg::Files)]
    pub(crate) serialization: SerializationArg,
    /// Content hash (extension; the root digest is always SHA-256).
    #[arg(long = "hash", value_enum, default_value_t = HashArg::Sha256)]
    pub(crate) hash: HashArg,
    /// Shard size in bytes for `--serialization shards`.
    #[arg(
        long = "shard-size",
        visible_alias = "shard_size",
        default_value_t = DEFAULT_SHARD_SIZE,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) shard_size: u64,
}

/// `--serialization`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SerializationArg {
    /// One resource per file.
    Files,
    /// Files cut into shards.
    Shards,
}

/// `--hash`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HashArg {
    /// SHA-256.
    Sha256,
    /// BLAKE2b-512.
    #[value(alias = "blake2")]
    Blake2b,
    /// BLAKE3.
    Blake3,
}

impl DigestArgs {
    fn spec(&self) -> ModelSpec {
        let algorithm = match self.hash {
            HashArg::Sha256 => HashAlgorithm::Sha256,
            HashArg::Blake2b => HashAlgorithm::Blake2b,
            HashArg::Blake3 => HashAlgorithm::Blake3,
        };
        let serialization = match self.serialization {
            SerializationArg::Files => Serialization::Files,
            SerializationArg::Shards => Serialization::Shards {
                shard_size: self.shard_size,
            },
        };
        self.model
            .spec(None, HashingConfig::new(algorithm, serialization))
    }
}

pub(crate) fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

pub(crate) fn verify(cmd: VerifyCommand) -> ExitCode {
    let common = cmd.method.common();
    let options = verify_options(common).map(|mut options| {
        // With an OCI image, reports and messages name the manifest or layout as the model.
        if let Some(source) = &options.oci {
            options.model_path = pathlib(source.path());
        }
        options
    });
    let report = Report {
        model: options.as_ref().map_or_else(
            |_| pathlib(&common.walk.model_path),
            |o| o.model_path.clone(),
        ),
        output: common.output,
        termination_log: common.termination_log.as_deref(),
        warn_only: common.warn_only,
    };
    let options = match options {
        Ok(options) => options,
        Err(e) => return report.outcome(cmd.method.name(), Err(VerifyError::from(e).into())),
    };
    let method = cmd.method.name();
    match &cmd.method {
        VerifyMethod::Sigstore(args) => {
            run_verify(method, sigstore_verifier(args), &options, &report)
        }
        VerifyMethod::Key(args) => {
            let verifier = key_verifier(args).map(|v| match common.output {
                // Printed when they arise, as Python does, even if the model check fails.
                OutputFormat::Text => v.warnings_to(Arc::new(|w: &str| println!("{w}"))),
                OutputFormat::Json => v,
            });
            run_verify(method, verifier, &options, &report)
        }
        VerifyMethod::Certificate(args) => {
            run_verify(method, certificate_verifier(args), &options, &report)
        }
    }
}

/// A failed verification: the message and its class (`usage-invalid` when the method could not
/// be set up, else [`VerifyError::kind`]).
pub(crate) struct Failed {
    message: String,
    kind: &'static str,
}

impl From<VerifyError> for Failed {
    fn from(e: VerifyError) -> Self {
        Self {
            message: e.to_string(),
            kind: e.kind(),
        }
    }
}

impl From<CliError> for Failed {
    fn from(e: CliError) -> Self {
        Self {
            message: e.to_string(),
            kind: "usage-invalid",
        }
    }
}

/// How a `verify` result is reported.
pub(crate) struct Report<'a> {
    /// The model as messages name it.
    model: PathBuf,
    output: OutputFormat,
    termination_log: Option<&'a Path>,
    warn_only: bool,
}

/// Runs a verification with a method (or the error that prevented building it) and reports it.
fn run_verify<V: SignatureVerifier>(
    method: &'static str,
    verifier: Result<V, CliError>,
    options: &VerifyOptions,
    report: &Report<'_>,
) -> ExitCode {
    let outcome = verifier
        .map_err(Failed::from)
        .and_then(|v| verify_model(&v, options).map_err(Failed::from));
    report.outcome(method, outcome)
}

impl Report<'_> {
    /// Prints the outcome: text as `model_signing` prints it, or one JSON object with
    /// `--output json`. With `--termination-log` the result is also written there as one line of
    /// JSON; with `--warn-only` a failure is reported but the exit code is 0.
    fn outcome(
        &self,
        method: &'static str,
        outcome: Result<model_verifier::verify::VerifyReport, Failed>,
    ) -> ExitCode {
        let json = self.output == OutputFormat::Json;
        let termination = match &outcome {
            Ok(report) => TerminationReport {
                outcome: Outcome::Verified,
                method: method.to_owned(),
                root_digest: Some(report.root_digest.clone()),
                files: Some(report.files as u64),
                bytes: Some(report.bytes),
                seconds: Some(report.seconds),
                reason: None,
                warn_only: self.warn_only,
            },
            Err(failed) => TerminationReport {
                outcome: Outcome::Failed,
                method: method.to_owned(),
                root_digest: None,
                files: None,
                bytes: None,
                seconds: None,
                reason: Some(truncate(&failed.message, 1024)),
                warn_only: self.warn_only,
            },
        };
        if let Some(path) = self.termination_log {
            write_termination_log(path, &termination);
        }
        match outcome {
            Ok(report) => {
                if json {
                    let mut v = serde_json::to_value(&report).unwrap_or_default();
                    v["result"] = "verified".into();
                    println!("{v}");
                } else {
                    for w in &report.warnings {
                        println!("{w}");
                    }
                    println!("Verification succeeded");
                }
                ExitCode::SUCCESS
            }
            Err(Failed { message, kind }) => {
                eprintln!("Verification failed with error: {message}");
                if json {
                    let v = serde_json::json!({
                        "result": "failed",
                        "method": method,
                        "model": self.model,
                        "kind": kind,
                        "error": message,
                        "warnOnly": self.warn_only,
                    });
                    println!("{v}");
                }
                if self.warn_only {
                    eprintln!(
                        "WARNING: --warn-only is set: the model failed verification, exiting 0 so the workload starts anyway"
                    );
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Writes the one-line JSON result; a failure to write it is reported but does not change the
/// verification's outcome.
fn write_termination_log(path: &std::path::Path, report: &TerminationReport) {
    let mut line = serde_json::to_string(report).unwrap_or_default();
    line.push('\n');
    if let Err(e) = std::fs::write(path, line) {
        eprintln!(
            "WARNING: cannot write the termination log '{}': {e}",
            path.display()
        );
    }
}

pub(crate) fn sign(method: SignMethod) -> ExitCode {
    let result = match &method {
        SignMethod::Key(args) => sign_key(args),
        SignMethod::Certificate(args) => sign_certificate(args),
    };
    match result {
        Ok(()) => {
            println!("Signing succeeded");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Signing failed with error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Reads an input file named on the command line.
fn read_input(path: &Path) -> Result<Vec<u8>, InputError> {
    input::read_small_file(&pathlib(path))
}

/// Reads and concatenates the PEM files of repeated `--certificate_chain` flags.
fn read_inputs(paths: &[PathBuf]) -> Result<Vec<u8>, InputError> {
    input::read_concatenated(&paths.iter().map(|p| pathlib(p)).collect::<Vec<_>>())
}

/// The `sigstore` method: `--trust_config` if given, else the embedded staging root with
/// `--use_staging`, else the embedded public-good root.
pub(crate) fn sigstore_verifier(args: &SigstoreArgs) -> Result<SigstoreVerifier, CliError> {
    let trust = match (&args.trust_config, args.use_staging) {
        (Some(path), _) => TrustMaterial::from_file(path)?,
        (None, true) => TrustMaterial::staging()?,
        (None, false) => TrustMaterial::public_good()?,
    };
    let policy = IdentityPolicy {
        identity: args.identity.clone(),
        issuer: args.identity_provider.clone(),
    };
    Ok(SigstoreVerifier::new(policy, trust)?)
}

pub(crate) fn key_verifier(args: &KeyArgs) -> Result<KeyVerifier, CliError> {
    Ok(KeyVerifier::from_pem(&read_input(&args.public_key)?)?)
}

/// The CA bundles tried when `verify certificate` gets no `--certificate_chain` (Python then
/// trusts certifi's Mozilla bundle; we use the system's copy of the same list).
pub(crate) const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// The files the `certificate` method trusts: `--certificate_chain`, else `SSL_CERT_FILE` and
/// the system bundles (the first readable one is used).
pub(crate) fn certificate_trust_paths(args: &CertificateArgs) -> Vec<PathBuf> {
    if args.certificate_chain.is_empty() {
        std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .into_iter()
            .chain(SYSTEM_CA_BUNDLES.iter().map(PathBuf::from))
            .collect()
    } else {
        args.certificate_chain.clone()
    }
}

pub(crate) fn certificate_verifier(
    args: &CertificateArgs,
) -> Result<CertificateVerifier, CliError> {
    let verifier = if args.certificate_chain.is_empty() {
        let pem = certificate_trust_paths(args)
            .iter()
            .find_map(|p| input::read_small_file(p).ok())
            .unwrap_or_default();
        CertificateVerifier::from_system_bundle(&pem)
    } else {
        CertificateVerifier::from_pem(&read_inputs(&args.certificate_chain)?)?
    };
    Ok(if args.log_fingerprints {
        verifier.log_fingerprints(Arc::new(|line: &str| eprintln!("{line}")))
    } else {
        verifier
    })
}

impl CommonSignArgs {
    fn spec(&self) -> ModelSpec {
        self.model
            .spec(Some(self.signature.clone()), HashingConfig::default())
    }

    /// The statement to sign: of the OCI image, or of the model directory.
    fn payload(&self) -> Result<model::SigningPayload, CliError> {
        Ok(match self.model.oci_image() {
            Some(image) => image?.signing_payload(!self.model.oci_exclude_config)?,
            None => model::signing_payload(&self.spec())?,
        })
    }

    fn write(&self, bundle: &Bundle) -> Result<(), CliError> {
        std::fs::write(&self.signature, bundle.to_json())
            .map_err(|e| InputError::os(&pathlib(&self.signature), e).into())
    }
}

fn load_signing_key(path: &Path, password: Option<&str>) -> Result<SigningKey, CliError> {
    let pem = read_input(path)?;
    Ok(SigningKey::from_pem(&pem, password.map(str::as_bytes))?)
}

fn sign_key(args: &SignKeyArgs) -> Result<(), CliError> {
    let key = load_signing_key(&args.private_key, args.password.as_deref())?;
    let payload = args.common.payload()?;
    let bundle = sign::key_bundle(&key, &payload.payload)?;
    args.common.write(&bundle)
}

fn sign_certificate(args: &SignCertificateArgs) -> Result<(), CliError> {
    let key = load_signing_key(&args.private_key, None)?;
    let leaf = sign::signing_certificate_from_pem(&read_input(&args.signing_certificate)?)?;
    let chain = if args.certificate_chain.is_empty() {
        // model_signing 1.1.1 crashes here; HEAD records the leaf alone.
        Vec::new()
    } else {
        sign::chain_from_pem(&read_inputs(&args.certificate_chain)?)?
    };
    // Refuse a certificate for another key before hashing the model.
    sign::check_certificate_key(&key, &leaf)?;
    let payload = args.common.payload()?;
    let bundle = sign::certificate_bundle(&key, &leaf, &chain, &payload.payload)?;
    args.common.write(&bundle)
}

/// The manifest `digest` prints the root digest of.
fn digest_manifest(args: &DigestArgs) -> Result<Manifest, CliError> {
    let default_hashing =
        args.serialization == SerializationArg::Files && args.hash == HashArg::Sha256;
    match args.model.oci_image() {
        Some(_) if !default_hashing => Err(CliError::OciHashing),
        Some(image) => Ok(image?.items(!args.model.oci_exclude_config)?),
        None => {
            let spec = args.spec();
            let ignore = spec.ignore_set(&[])?;
            Ok(model::compute(&spec, &ignore, Selection::Walk)?.manifest)
        }
    }
}

pub(crate) fn digest(args: &DigestArgs) -> ExitCode {
    match digest_manifest(args) {
        Ok(manifest) => {
            println!("sha256:{}", hex::encode(manifest.root_digest()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Computing digest failed: {e}");
            ExitCode::from(1)
        }
    }
}
