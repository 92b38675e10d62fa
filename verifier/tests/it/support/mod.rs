//! What several test modules share.

pub mod key_cert_fixtures;
pub mod mini_sigstore;
pub mod oci_layout;
pub mod sigstore_common;
