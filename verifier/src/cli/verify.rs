//! `verify`: builds the signature method, runs the verification and reports the outcome (text,
//! JSON, termination log, `--warn-only`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use model_verifier::input::{self};
use model_verifier::keys::EcPublicKey;
use model_verifier::method::SignatureVerifier;
use model_verifier::method::certificate::CertificateVerifier;
use model_verifier::method::key::{KeyVerifier, check_key_curve};
use model_verifier::method::sigstore::{IdentityPolicy, SigstoreVerifier, TrustMaterial};
use model_verifier::posix::pathlib;
use model_verifier::verify::{VerifyError, VerifyOptions, verify_model};
use mv_shared::verify::{
    CertificateArgs, KeyArgs, Outcome, OutputFormat, SigstoreArgs, TerminationReport,
    VerifyCommand, VerifyMethod,
};

use super::{CliError, read_input, read_inputs, verify_options};

pub(crate) fn verify(cmd: VerifyCommand) -> ExitCode {
    let common = cmd.method.common();
    let options = verify_options(common).map(|mut options| {
        // With an OCI image, reports and messages name the manifest or layout as the model.
        if let Some(source) = &options.oci {
            options.model_path = pathlib(source.path());
        }
        options
    });
    let report = Report {
        model: options.as_ref().map_or_else(
            |_| pathlib(&common.walk.model_path),
            |o| o.model_path.clone(),
        ),
        output: common.output,
        termination_log: common.termination_log.as_deref(),
        warn_only: common.warn_only,
    };
    let options = match options {
        Ok(options) => options,
        Err(e) => return report.outcome(cmd.method.name(), Err(VerifyError::from(e).into())),
    };
    let method = cmd.method.name();
    match &cmd.method {
        VerifyMethod::Sigstore(args) => {
            run_verify(method, sigstore_verifier(args), &options, &report)
        }
        VerifyMethod::Key(args) => {
            let verifier = key_verifier(args).map(|v| match common.output {
                // Printed when they arise, as Python does, even if the model check fails.
                OutputFormat::Text => v.warnings_to(Arc::new(|w: &str| println!("{w}"))),
                OutputFormat::Json => v,
            });
            run_verify(method, verifier, &options, &report)
        }
        VerifyMethod::Certificate(args) => {
            run_verify(method, certificate_verifier(args), &options, &report)
        }
    }
}

/// A failed verification: the message and its class (`usage-invalid` when the method could not
/// be set up, else [`VerifyError::kind`]).
pub(crate) struct Failed {
    message: String,
    kind: &'static str,
}

impl From<VerifyError> for Failed {
    fn from(e: VerifyError) -> Self {
        Self {
            message: e.to_string(),
            kind: e.kind(),
        }
    }
}

impl From<CliError> for Failed {
    fn from(e: CliError) -> Self {
        Self {
            message: e.to_string(),
            kind: "usage-invalid",
        }
    }
}

/// How a `verify` result is reported.
pub(crate) struct Report<'a> {
    /// The model as messages name it.
    model: PathBuf,
    output: OutputFormat,
    termination_log: Option<&'a Path>,
    warn_only: bool,
}

/// Runs a verification with a method (or the error that prevented building it) and reports it.
fn run_verify<V: SignatureVerifier>(
    method: &'static str,
    verifier: Result<V, CliError>,
    options: &VerifyOptions,
    report: &Report<'_>,
) -> ExitCode {
    let outcome = verifier
        .map_err(Failed::from)
        .and_then(|v| verify_model(&v, options).map_err(Failed::from));
    report.outcome(method, outcome)
}

impl Report<'_> {
    /// Prints the outcome: text as `model_signing` prints it, or one JSON object with
    /// `--output json`. With `--termination-log` the result is also written there as one line of
    /// JSON; with `--warn-only` a failure is reported but the exit code is 0.
    fn outcome(
        &self,
        method: &'static str,
        outcome: Result<model_verifier::verify::VerifyReport, Failed>,
    ) -> ExitCode {
        let json = self.output == OutputFormat::Json;
        let termination = match &outcome {
            Ok(report) => TerminationReport {
                outcome: Outcome::Verified,
                method: method.to_owned(),
                root_digest: Some(report.root_digest.clone()),
                files: Some(report.files as u64),
                bytes: Some(report.bytes),
                seconds: Some(report.seconds),
                reason: None,
                warn_only: self.warn_only,
            },
            Err(failed) => TerminationReport {
                outcome: Outcome::Failed,
                method: method.to_owned(),
                root_digest: None,
                files: None,
                bytes: None,
                seconds: None,
                reason: Some(truncate(&failed.message, 1024)),
                warn_only: self.warn_only,
            },
        };
        if let Some(path) = self.termination_log {
            write_termination_log(path, &termination);
        }
        match outcome {
            Ok(report) => {
                if json {
                    let mut v = serde_json::to_value(&report).unwrap_or_default();
                    v["result"] = "verified".into();
                    println!("{v}");
                } else {
                    for w in &report.warnings {
                        println!("{w}");
                    }
                    println!("Verification succeeded");
                }
                ExitCode::SUCCESS
            }
            Err(Failed { message, kind }) => {
                eprintln!("Verification failed with error: {message}");
                if json {
                    let v = serde_json::json!({
                        "result": "failed",
                        "method": method,
                        "model": self.model,
                        "kind": kind,
                        "error": message,
                        "warnOnly": self.warn_only,
                    });
                    println!("{v}");
                }
                if self.warn_only {
                    eprintln!(
                        "WARNING: --warn-only is set: the model failed verification, exiting 0 so the workload starts anyway"
                    );
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Writes the one-line JSON result; a failure to write it is reported but does not change the
/// verification's outcome.
fn write_termination_log(path: &std::path::Path, report: &TerminationReport) {
    let mut line = serde_json::to_string(report).unwrap_or_default();
    line.push('\n');
    if let Err(e) = std::fs::write(path, line) {
        eprintln!(
            "WARNING: cannot write the termination log '{}': {e}",
            path.display()
        );
    }
}

/// The `sigstore` method: `--trust_config` if given, else the embedded staging root with
/// `--use_staging`, else the embedded public-good root.
pub(crate) fn sigstore_verifier(args: &SigstoreArgs) -> Result<SigstoreVerifier, CliError> {
    let trust = match (&args.trust_config, args.use_staging) {
        (Some(path), _) => TrustMaterial::from_file(path)?,
        (None, true) => TrustMaterial::staging()?,
        (None, false) => TrustMaterial::public_good()?,
    };
    let policy = IdentityPolicy::new(args.signers.clone())?;
    Ok(SigstoreVerifier::new(policy, trust)?)
}

/// The `key` method: every `--public_key` is read and parsed first, and a file that cannot be
/// read or is not a usable key fails the set-up (exit 1, as with one key), even when another key
/// would verify: a broken trust list is reported, never silently narrowed. With one key the
/// messages are `model_signing`'s; with several, a key error names its file.
pub(crate) fn key_verifier(args: &KeyArgs) -> Result<KeyVerifier, CliError> {
    if let [path] = args.public_keys.as_slice() {
        return Ok(KeyVerifier::from_pem(&read_input(path)?)?);
    }
    let keys = args
        .public_keys
        .iter()
        .map(|path| {
            let name = pathlib(path);
            let key = EcPublicKey::from_pem(&read_input(path)?)
                .and_then(|key| check_key_curve(&key).map(|()| key))
                .map_err(|source| CliError::KeyFile {
                    path: name.clone(),
                    source,
                })?;
            Ok((name.display().to_string(), key))
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    Ok(KeyVerifier::any_of(keys)?)
}

/// The CA bundles tried when `verify certificate` gets no `--certificate_chain` (Python then
/// trusts certifi's Mozilla bundle; we use the system's copy of the same list).
pub(crate) const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// The files the `certificate` method trusts: `--certificate_chain`, else `SSL_CERT_FILE` and
/// the system bundles (the first readable one is used).
pub(crate) fn certificate_trust_paths(args: &CertificateArgs) -> Vec<PathBuf> {
    if args.certificate_chain.is_empty() {
        std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .into_iter()
            .chain(SYSTEM_CA_BUNDLES.iter().map(PathBuf::from))
            .collect()
    } else {
        args.certificate_chain.clone()
    }
}

pub(crate) fn certificate_verifier(
    args: &CertificateArgs,
) -> Result<CertificateVerifier, CliError> {
    let verifier = if args.certificate_chain.is_empty() {
        let pem = certificate_trust_paths(args)
            .iter()
            .find_map(|p| input::read_small_file(p).ok())
            .unwrap_or_default();
        CertificateVerifier::from_system_bundle(&pem)
    } else {
        CertificateVerifier::from_pem(&read_inputs(&args.certificate_chain)?)?
    };
    Ok(if args.log_fingerprints {
        verifier.log_fingerprints(Arc::new(|line: &str| eprintln!("{line}")))
    } else {
        verifier
    })
}
