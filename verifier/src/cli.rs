//! The subcommands: argument types and what each one prints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use mv_shared::verify::{VerifyCommand, VerifyMethod};

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
    match cmd.method {
        VerifyMethod::Sigstore(_) | VerifyMethod::Key(_) | VerifyMethod::Certificate(_) => {
            eprintln!(
                "Verification failed with error: the {} method is not available yet",
                cmd.method.name()
            );
            ExitCode::from(1)
        }
    }
}

pub(crate) fn sign(_method: SignMethod) -> ExitCode {
    eprintln!("Signing failed with error: signing is not available yet");
    ExitCode::from(1)
}

pub(crate) fn digest(_args: &DigestArgs) -> ExitCode {
    eprintln!("Computing digest failed: not available yet");
    ExitCode::from(1)
}
