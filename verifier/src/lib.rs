//! Native verification of OpenSSF model signatures (the `model_signing` format).
//!
//! The pipeline: a signature method ([`envelope::SignatureVerifier`]) checks the bundle and
//! yields the signed in-toto statement; [`statement`] parses it into the expected
//! [`manifest::Manifest`]; [`walk`] and [`hashing`] rebuild the local manifest from the model
//! directory; [`manifest`] compares the two.

pub mod envelope;
pub mod bundle;
pub mod dsse;
pub mod keys;
pub mod sigstore;
