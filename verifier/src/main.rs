//! `model-verifier`: command-line entry point, compatible with `model_signing` (1.1.1 and HEAD).
//!
//! Exit codes: 0 success, 1 verification (or signing, or digest) failed, 2 usage error.

use std::process::ExitCode;

mod agent;
mod cli;

fn main() -> ExitCode {
    cli::run(std::env::args_os())
}
