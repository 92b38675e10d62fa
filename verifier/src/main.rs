//! `model-verifier`: command-line entry point, compatible with `model_signing` (1.1.1 and HEAD).
//!
//! Exit codes: 0 success, 1 verification (or signing, or digest) failed, 2 usage error.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mv_shared::verify::{VerifyCommand, VerifyMethod};

mod agent;
mod cli;

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
    Sign(cli::SignMethod),
    /// Print the model's root digest (`sha256:<hex>`), as `model_signing digest`.
    Digest(cli::DigestArgs),
    /// Verify, then keep checking (continuous validation), with `/ready` and `/healthz` probes.
    /// Also run as `validation-agent`, upstream's agent.
    #[command(visible_alias = "validation-agent")]
    Watch(agent::WatchArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints usage errors to stderr and exits 2; --help/--version to stdout, 0.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    cli::init_logging(&cli.log_level);
    match cli.command {
        Command::Verify { method } => cli::verify(VerifyCommand { method }),
        Command::Sign(method) => cli::sign(method),
        Command::Digest(args) => cli::digest(&args),
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
