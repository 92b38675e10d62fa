//! `model-verifier`: command-line entry point, compatible with `model_signing` (1.1.1 and HEAD).
//!
//! Exit codes: 0 success, 1 verification (or signing, or digest) failed, 2 usage error.

// House rule (issue 19): no function over 120 lines of code outside tests.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

use std::process::ExitCode;

mod agent;
mod cli;

fn main() -> ExitCode {
    cli::run(std::env::args_os())
}
