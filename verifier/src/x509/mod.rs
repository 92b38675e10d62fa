//! X.509 path validation as OpenSSL's `X509_verify_cert` does it with default settings.

pub mod path;
