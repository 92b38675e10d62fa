//! The subcommands: argument types and what each one prints.

use std::path::PathBuf;
use std::process::ExitCode;

use std::fmt::Display;

use clap::{Args, Subcommand, ValueEnum};
use model_verifier::envelope::{SignatureVerifier, VerifiedEnvelope};
use model_verifier::hashing::{DEFAULT_SHARD_SIZE, HashAlgorithm, HashingConfig, Serialization};
use model_verifier::model::{self, ModelSpec, Selection};
use model_verifier::verify::verify_model;
use mv_shared::verify::{CommonVerifyArgs, OutputFormat, VerifyCommand, VerifyMethod};

/// `sign key|certificate ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SignMethod {
    /// Sign with an elliptic-curve private key.
    Key,
    /// Sign with a private key and its certificate.
    Certificate,
}

/// `digest MODEL_PATH ...`
#[derive(Debug, Args)]
pub(crate) struct DigestArgs {
    /// The model: a directory, or a single file.
    #[arg(value_name = "MODEL_PATH")]
    pub(crate) model_path: PathBuf,
    /// A file or directory to leave out, relative to the current directory; dropped when outside
    /// the model. Repeat the flag for several paths.
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
    /// Follow symbolic links to files.
    #[arg(long = "allow_symlinks", visible_alias = "allow-symlinks")]
    pub(crate) allow_symlinks: bool,
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
        ModelSpec {
            model_path: self.model_path.clone(),
            ignore_paths: self.ignore_paths.clone(),
            signature_path: None,
            ignore_git_paths: !self.no_ignore_git_paths,
            allow_symlinks: self.allow_symlinks,
            hashing: HashingConfig::new(algorithm, serialization),
        }
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
    let common = cmd.method.common().clone();
    match &cmd.method {
        VerifyMethod::Sigstore(args) => run_verify(
            model_verifier::sigstore::SigstoreVerifier::from_args(args),
            &common,
        ),
        VerifyMethod::Key(_) | VerifyMethod::Certificate(_) => run_verify::<Unavailable, _>(
            Err(format!(
                "the {} method is not available yet",
                cmd.method.name()
            )),
            &common,
        ),
    }
}

/// Placeholder for a method whose implementation has not landed.
#[derive(Debug)]
struct Unavailable;

impl SignatureVerifier for Unavailable {
    type Error = std::io::Error;
    fn method(&self) -> &'static str {
        "unavailable"
    }
    fn verify_bundle(&self, _: &[u8]) -> Result<VerifiedEnvelope, Self::Error> {
        Err(std::io::Error::other("unavailable"))
    }
}

/// Runs a verification with a method (or the error that prevented building it) and prints the
/// outcome: text as `model_signing` prints it, or one JSON object with `--output json`.
pub(crate) fn run_verify<V: SignatureVerifier, E: Display>(
    verifier: Result<V, E>,
    common: &CommonVerifyArgs,
) -> ExitCode {
    let outcome = verifier
        .map_err(|e| (e.to_string(), "usage-invalid"))
        .and_then(|v| verify_model(&v, common).map_err(|e| (e.to_string(), e.kind())));
    let json = common.output == OutputFormat::Json;
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
                    "model": common.model_path,
                    "kind": kind,
                    "error": message,
                });
                println!("{v}");
            }
            ExitCode::from(1)
        }
    }
}

pub(crate) fn sign(_method: SignMethod) -> ExitCode {
    eprintln!("Signing failed with error: signing is not available yet");
    ExitCode::from(1)
}

pub(crate) fn digest(args: &DigestArgs) -> ExitCode {
    let spec = args.spec();
    let result = spec
        .ignore_set(&[])
        .and_then(|ignore| model::compute(&spec, &ignore, Selection::Walk));
    match result {
        Ok(c) => {
            println!("sha256:{}", hex::encode(c.manifest.root_digest()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Computing digest failed: {e}");
            ExitCode::from(1)
        }
    }
}
