//! The verifier's integration tests: one test binary, one module per concern.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

mod cli_report;
mod cold_reads;
mod conformance_digest;
mod conformance_key_cert;
mod input_files;
mod interop_go;
mod interop_python;
mod memory_limits;
mod model_policy;
mod oci_manifest;
mod pki_failure_classes;
mod several_signers;
mod sigstore_cli;
mod sigstore_e2e;
mod sigstore_layers;
mod sigstore_mini;
mod sigstore_mutations;
mod sigstore_python;
mod sigstore_staging;
mod sigstore_trust;
mod sigstore_vectors;
mod testdata;
mod walk_and_hash;
mod watch;
mod watch_held;
