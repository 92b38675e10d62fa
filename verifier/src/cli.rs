//! The subcommands: argument types and what each one prints.

use std::path::PathBuf;
use std::process::ExitCode;

use std::fmt::Display;

use clap::{Args, Subcommand, ValueEnum};
use model_verifier::hashing::{DEFAULT_SHARD_SIZE, HashAlgorithm, HashingConfig, Serialization};
use model_verifier::method::SignatureVerifier;
use model_verifier::method::certificate::CertificateVerifier;
use model_verifier::method::key::KeyVerifier;
use model_verifier::model::{self, ModelSpec, Selection};
use model_verifier::oci::OciImage;
use model_verifier::posix::pathlib;
use model_verifier::sign::{self, SigningKey};
use model_verifier::verify::verify_model;
use mv_shared::verify::{
    ColdReads, CommonVerifyArgs, OciArgs, Outcome, OutputFormat, TerminationReport, VerifyCommand,
    VerifyMethod,
};

/// `sign key|certificate ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SignMethod {
    /// Sign with an elliptic-curve private key (P-256, P-384 or P-521).
    Key(SignKeyArgs),
    /// Sign with a private key and its certificate (plus the chain to record in the bundle).
    Certificate(SignCertificateArgs),
}

/// The model and the walk options shared by `sign` and `digest` (as `model_signing`).
#[derive(Debug, Args)]
pub(crate) struct WalkArgs {
    /// The model: a directory, or a single file. Not given with `--oci-manifest`/`--oci-layout`.
    #[arg(
        value_name = "MODEL_PATH",
        required_unless_present_any = ["oci_manifest", "oci_layout"],
        conflicts_with_all = ["oci_manifest", "oci_layout"],
        default_value = ".",
        hide_default_value = true
    )]
    pub(crate) model_path: PathBuf,
    /// Extension: the model is an OCI image; its items are the manifest's layers (and config).
    #[command(flatten)]
    pub(crate) oci: OciArgs,
    /// Extension, with an OCI image: leave the config blob (`config.json`) out of the items.
    #[arg(long = "oci-exclude-config", visible_alias = "oci_exclude_config")]
    pub(crate) oci_exclude_config: bool,
    /// A file or directory to leave out, relative to the current directory (as `model_signing`
    /// does), dropped when outside the model. Repeat the flag for several paths.
    #[arg(
        long = "ignore-paths",
        visible_alias = "ignore_paths",
        value_name = "PATH"
    )]
    pub(crate) ignore_paths: Vec<PathBuf>,
    /// Leave out the top-level `.git`, `.gitattributes`, `.github` and `.gitignore` (default).
    #[arg(
        long = "ignore-git-paths",
        visible_alias = "ignore_git_paths",
        overrides_with = "no_ignore_git_paths"
    )]
    pub(crate) ignore_git_paths: bool,
    /// Hash the top-level git files too.
    #[arg(
        long = "no-ignore-git-paths",
        visible_alias = "no_ignore_git_paths",
        overrides_with = "ignore_git_paths"
    )]
    pub(crate) no_ignore_git_paths: bool,
    /// Follow symbolic links to files (a link to a directory contributes nothing).
    #[arg(long = "allow_symlinks", visible_alias = "allow-symlinks")]
    pub(crate) allow_symlinks: bool,
    /// Extension: how files not in the page cache are read (files in it are always read from
    /// it). `direct` reads them with direct I/O while hashing; `cached` through the page cache.
    #[arg(
        long = "cold-reads",
        visible_alias = "cold_reads",
        value_enum,
        default_value_t = ColdReads::Direct,
        value_name = "HOW"
    )]
    pub(crate) cold_reads: ColdReads,
}

impl WalkArgs {
    /// The OCI image the flags name, if any.
    fn oci_image(&self) -> Option<Result<OciImage, String>> {
        if !self.oci.is_set() {
            return (self.oci.image.is_some() || self.oci_exclude_config).then(|| {
                Err("--image and --oci-exclude-config need --oci-layout or --oci-manifest".into())
            });
        }
        if !self.ignore_paths.is_empty() {
            return Some(Err(model_verifier::oci::OciError::Option {
                option: "--ignore-paths",
            }
            .to_string()));
        }
        Some(OciImage::from_args(&self.oci).map_err(|e| e.to_string()))
    }

    /// The model spec these flags describe (paths spelt as pathlib spells them).
    fn spec(&self, signature_path: Option<PathBuf>, hashing: HashingConfig) -> ModelSpec {
        ModelSpec {
            model_path: pathlib(&self.model_path),
            ignore_paths: self.ignore_paths.clone(),
            signature_path,
            ignore_git_paths: !self.no_ignore_git_paths,
            allow_symlinks: self.allow_symlinks,
            hashing,
            direct_io: self.cold_reads == ColdReads::Direct,
        }
    }
}

/// Options every `sign` method takes (as `model_signing sign`).
#[derive(Debug, Args)]
pub(crate) struct CommonSignArgs {
    #[command(flatten)]
    pub(crate) walk: WalkArgs,
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
    pub(crate) walk: WalkArgs,
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
        self.walk
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
    let mut common = cmd.method.common().clone();
    // Paths as pathlib spells them, so messages name files exactly as model_signing does.
    common.signature = pathlib(&common.signature);
    common.model_path = pathlib(&common.model_path);
    // With an OCI image, reports and messages name the manifest or layout as the model.
    if let Some(image) = common
        .oci
        .oci_manifest
        .as_ref()
        .or(common.oci.oci_layout.as_ref())
    {
        common.model_path = pathlib(image);
    }
    match &cmd.method {
        VerifyMethod::Sigstore(args) => run_verify(
            "sigstore",
            model_verifier::method::sigstore::SigstoreVerifier::from_args(args),
            &common,
        ),
        VerifyMethod::Key(args) => {
            let verifier = key_verifier(args).map(|v| match common.output {
                // Printed when they arise, as Python does, even if the model check fails.
                OutputFormat::Text => v.warnings_to(std::sync::Arc::new(|w: &str| println!("{w}"))),
                OutputFormat::Json => v,
            });
            run_verify("key", verifier, &common)
        }
        VerifyMethod::Certificate(args) => {
            run_verify("certificate", certificate_verifier(args), &common)
        }
    }
}

/// Runs a verification with a method (or the error that prevented building it) and prints the
/// outcome: text as `model_signing` prints it, or one JSON object with `--output json`. With
/// `--termination-log` the result is also written there as one line of JSON; with `--warn-only`
/// a failure is reported but the exit code is 0.
pub(crate) fn run_verify<V: SignatureVerifier, E: Display>(
    method: &'static str,
    verifier: Result<V, E>,
    common: &CommonVerifyArgs,
) -> ExitCode {
    let outcome = verifier
        .map_err(|e| (e.to_string(), "usage-invalid"))
        .and_then(|v| verify_model(&v, common).map_err(|e| (e.to_string(), e.kind())));
    let json = common.output == OutputFormat::Json;
    let termination = match &outcome {
        Ok(report) => TerminationReport {
            outcome: Outcome::Verified,
            method: method.to_owned(),
            root_digest: Some(report.root_digest.clone()),
            files: Some(report.files as u64),
            bytes: Some(report.bytes),
            seconds: Some(report.seconds),
            reason: None,
            warn_only: common.warn_only,
        },
        Err((message, _)) => TerminationReport {
            outcome: Outcome::Failed,
            method: method.to_owned(),
            root_digest: None,
            files: None,
            bytes: None,
            seconds: None,
            reason: Some(truncate(message, 1024)),
            warn_only: common.warn_only,
        },
    };
    if let Some(path) = &common.termination_log {
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
        Err((message, kind)) => {
            eprintln!("Verification failed with error: {message}");
            if json {
                let v = serde_json::json!({
                    "result": "failed",
                    "method": method,
                    "model": common.model_path,
                    "kind": kind,
                    "error": message,
                    "warnOnly": common.warn_only,
                });
                println!("{v}");
            }
            if common.warn_only {
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
        Err(message) => {
            eprintln!("Signing failed with error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Reads an input file; errors are worded like Python's `OSError`.
fn read_input(path: &std::path::Path) -> Result<Vec<u8>, String> {
    model_verifier::verify::read_small_file(&pathlib(path))
}

pub(crate) fn key_verifier(args: &mv_shared::verify::KeyArgs) -> Result<KeyVerifier, String> {
    let pem = read_input(&args.public_key)?;
    KeyVerifier::from_pem(&pem).map_err(|e| e.to_string())
}

/// The CA bundles tried when `verify certificate` gets no `--certificate_chain` (Python then
/// trusts certifi's Mozilla bundle; we use the system's copy of the same list).
pub(crate) const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

pub(crate) fn certificate_verifier(
    args: &mv_shared::verify::CertificateArgs,
) -> Result<CertificateVerifier, String> {
    let verifier = if args.certificate_chain.is_empty() {
        let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let pem = env
            .into_iter()
            .chain(SYSTEM_CA_BUNDLES.iter().map(PathBuf::from))
            .find_map(|p| model_verifier::verify::read_small_file(&p).ok())
            .unwrap_or_default();
        CertificateVerifier::from_system_bundle(&pem)
    } else {
        let mut pem = Vec::new();
        for path in &args.certificate_chain {
            pem.extend(read_input(path)?);
        }
        CertificateVerifier::from_pem(&pem).map_err(|e| e.to_string())?
    };
    Ok(if args.log_fingerprints {
        verifier.log_fingerprints(std::sync::Arc::new(|line: &str| eprintln!("{line}")))
    } else {
        verifier
    })
}

impl CommonSignArgs {
    fn spec(&self) -> ModelSpec {
        self.walk
            .spec(Some(self.signature.clone()), HashingConfig::default())
    }

    /// The statement to sign: of the OCI image, or of the model directory.
    fn payload(&self) -> Result<model::SigningPayload, String> {
        match self.walk.oci_image() {
            Some(image) => image?
                .signing_payload(!self.walk.oci_exclude_config)
                .map_err(|e| e.to_string()),
            None => model::signing_payload(&self.spec()).map_err(|e| e.to_string()),
        }
    }

    fn write(&self, bundle: &model_verifier::bundle::Bundle) -> Result<(), String> {
        std::fs::write(&self.signature, bundle.to_json())
            .map_err(|e| model_verifier::verify::python_os_error(&e, &pathlib(&self.signature)))
    }
}

fn load_signing_key(path: &std::path::Path, password: Option<&str>) -> Result<SigningKey, String> {
    let pem = read_input(path)?;
    SigningKey::from_pem(&pem, password.map(str::as_bytes)).map_err(|e| e.to_string())
}

fn sign_key(args: &SignKeyArgs) -> Result<(), String> {
    let key = load_signing_key(&args.private_key, args.password.as_deref())?;
    let payload = args.common.payload()?;
    let bundle = sign::key_bundle(&key, &payload.payload).map_err(|e| e.to_string())?;
    args.common.write(&bundle)
}

fn sign_certificate(args: &SignCertificateArgs) -> Result<(), String> {
    let key = load_signing_key(&args.private_key, None)?;
    let leaf = sign::signing_certificate_from_pem(&read_input(&args.signing_certificate)?)
        .map_err(|e| e.to_string())?;
    let chain = if args.certificate_chain.is_empty() {
        // model_signing 1.1.1 crashes here; HEAD records the leaf alone.
        Vec::new()
    } else {
        let mut pem = Vec::new();
        for path in &args.certificate_chain {
            pem.extend(read_input(path)?);
        }
        sign::chain_from_pem(&pem).map_err(|e| e.to_string())?
    };
    // Refuse a certificate for another key before hashing the model.
    sign::check_certificate_key(&key, &leaf).map_err(|e| e.to_string())?;
    let payload = args.common.payload()?;
    let bundle = sign::certificate_bundle(&key, &leaf, &chain, &payload.payload)
        .map_err(|e| e.to_string())?;
    args.common.write(&bundle)
}

pub(crate) fn digest(args: &DigestArgs) -> ExitCode {
    let spec = args.spec();
    let default_hashing =
        args.serialization == SerializationArg::Files && args.hash == HashArg::Sha256;
    let result = match args.walk.oci_image() {
        Some(_) if !default_hashing => {
            Err("an OCI image's items are SHA-256 layer digests: --serialization files --hash sha256 only".to_owned())
        }
        Some(image) => image.and_then(|i| {
            i.items(!args.walk.oci_exclude_config)
                .map_err(|e| e.to_string())
        }),
        None => spec
            .ignore_set(&[])
            .and_then(|ignore| model::compute(&spec, &ignore, Selection::Walk))
            .map(|c| c.manifest)
            .map_err(|e| e.to_string()),
    };
    match result {
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
