//! Native verification of OpenSSF model signatures (the `model_signing` format).
//!
//! The pipeline: a signature method ([`method::SignatureVerifier`]) checks the bundle and
//! yields the signed in-toto statement; [`statement`] parses it into the expected
//! [`manifest::Manifest`]; [`walk`] and [`hashing`] rebuild the local manifest from the model
//! directory; [`manifest`] compares the two. The entry point is
//! [`verify::verify_model`]`(&verifier, &`[`verify::VerifyOptions`]`)`: plain options, no
//! command-line types (the `model-verifier` binary owns its clap parser); [`input`] reads the
//! small input files and words OS errors as Python does.

// House rule (issue 19): no function over 120 lines of code outside tests.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

pub mod bundle;
mod der;
pub mod dsse;
pub mod hashing;
pub mod input;
pub mod json_limits;
pub mod keys;
pub mod manifest;
pub mod method;
mod mmap;
pub mod model;
pub mod oci;
pub mod pem;
pub mod posix;
pub mod sign;
pub mod statement;
mod stream;
pub mod verify;
pub mod walk;
pub mod watch;
pub mod x509;
