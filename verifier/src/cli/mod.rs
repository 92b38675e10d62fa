//! The command line: the subcommands' argument types and what each one prints (one module per
//! subcommand), and turning the flags into the library's options. Binary only: the library
//! takes plain options (`VerifyOptions`, `ModelSpec`) and never sees a clap type.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use model_verifier::hashing::HashingConfig;
use model_verifier::input::{self, InputError};
use model_verifier::keys::KeyError;
use model_verifier::method::certificate::TrustError;
use model_verifier::method::sigstore::{PolicyError, SigstoreError};
use model_verifier::model::{ModelError, ModelSpec};
use model_verifier::oci::{OciError, OciImage, OciSource};
use model_verifier::posix::pathlib;
use model_verifier::sign::SignError;
use model_verifier::verify::VerifyOptions;
use mv_shared::verify::{
    ColdReads, CommonVerifyArgs, OciArgs, VerifyCommand, VerifyMethod, WalkArgs,
};

mod digest;
mod sign;
mod verify;

pub(crate) use verify::{
    certificate_trust_paths, certificate_verifier, key_verifier, sigstore_verifier, truncate,
};

use crate::agent;

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
    /// One of several `--public_key` files is not a usable key.
    #[error("public key '{}': {source}", path.display())]
    KeyFile {
        /// The file, as given.
        path: PathBuf,
        /// What is wrong with it.
        source: KeyError,
    },
    /// The trusted Sigstore signers cannot be used.
    #[error(transparent)]
    Policy(#[from] PolicyError),
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

/// Reads an input file named on the command line.
fn read_input(path: &Path) -> Result<Vec<u8>, InputError> {
    input::read_small_file(&pathlib(path))
}

/// Reads and concatenates the PEM files of repeated `--certificate_chain` flags.
fn read_inputs(paths: &[PathBuf]) -> Result<Vec<u8>, InputError> {
    input::read_concatenated(&paths.iter().map(|p| pathlib(p)).collect::<Vec<_>>())
}

#[derive(Debug, Parser)]
#[command(
    name = "model-verifier",
    version,
    about = "Verify (and sign) ML models in the OpenSSF model signing format, natively.",
    long_about = None
)]
struct Cli {
    /// Log level for diagnostic lines on stderr (error, warn, info, debug, trace).
    #[arg(long = "log-level", global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify a model against its signature.
    Verify {
        #[command(subcommand)]
        method: VerifyMethod,
    },
    /// Sign a model (key or certificate).
    #[command(subcommand)]
    Sign(sign::SignMethod),
    /// Print the model's root digest (`sha256:<hex>`), as `model_signing digest`.
    Digest(digest::DigestArgs),
    /// Verify, then keep checking (continuous validation), with `/ready` and `/healthz` probes.
    /// Also run as `validation-agent`, upstream's agent.
    #[command(visible_alias = "validation-agent")]
    Watch(crate::agent::WatchArgs),
}

/// Parses the command line and runs the subcommand.
pub(crate) fn run(args: impl Iterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_args(args)) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints usage errors to stderr and exits 2; --help/--version to stdout, 0.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(&cli.log_level);
    match cli.command {
        Command::Verify { method } => verify::verify(VerifyCommand { method }),
        Command::Sign(method) => sign::sign(method),
        Command::Digest(args) => digest::digest(&args),
        Command::Watch(args) => agent::watch(args),
    }
}

/// `verify MODEL ...` without a method means `verify sigstore MODEL ...` (as `model_signing`).
/// Run as `validation-agent` (upstream's agent), the arguments are those of `watch`.
fn normalize_args(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.collect();
    let program = args.first().map(std::path::Path::new);
    if program
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == agent::AGENT_NAME)
    {
        args.insert(1, "watch".into());
    }
    // The first token that is not a global option is the command.
    let mut i = 1;
    while i < args.len()
        && (args[i] == "--log-level" || args[i].to_string_lossy().starts_with("--log-level="))
    {
        i += if args[i] == "--log-level" { 2 } else { 1 };
    }
    if args.get(i).is_some_and(|a| a == "verify") {
        let rest = args.split_off(i + 1);
        args.extend(mv_shared::verify::default_method(rest));
    } else if args
        .get(i)
        .is_some_and(|a| a == "watch" || a == agent::AGENT_NAME)
    {
        return agent::normalize_args(args, i + 1);
    }
    args
}
