//! `sign key|certificate`: the arguments and the signing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use model_verifier::bundle::Bundle;
use model_verifier::hashing::HashingConfig;
use model_verifier::input::InputError;
use model_verifier::model::{self, ModelSpec};
use model_verifier::posix::pathlib;
use model_verifier::sign::{self, SigningKey};

use super::{CliError, ModelArgs, read_input, read_inputs};

/// `sign key|certificate ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SignMethod {
    /// Sign with an elliptic-curve private key (P-256, P-384 or P-521).
    Key(SignKeyArgs),
    /// Sign with a private key and its certificate (plus the chain to record in the bundle).
    Certificate(SignCertificateArgs),
}

/// Options every `sign` method takes (as `model_signing sign`).
#[derive(Debug, Args)]
pub(crate) struct CommonSignArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Where to write the signature (relative to the current directory).
    #[arg(long, value_name = "SIGNATURE_PATH", default_value = "model.sig")]
    pub(crate) signature: PathBuf,
}

/// `sign key MODEL_PATH --private_key PEM [--password PW] ...`
#[derive(Debug, Args)]
pub(crate) struct SignKeyArgs {
    #[command(flatten)]
    pub(crate) common: CommonSignArgs,
    /// PEM file with the EC private key (PKCS#8, SEC1, or encrypted PKCS#8 with `--password`).
    #[arg(
        long = "private_key",
        visible_alias = "private-key",
        value_name = "PRIVATE_KEY"
    )]
    pub(crate) private_key: PathBuf,
    /// Password of an encrypted private key.
    #[arg(long, value_name = "PASSWORD")]
    pub(crate) password: Option<String>,
}

/// `sign certificate MODEL_PATH --private_key PEM --signing_certificate PEM ...`
#[derive(Debug, Args)]
pub(crate) struct SignCertificateArgs {
    #[command(flatten)]
    pub(crate) common: CommonSignArgs,
    /// PEM file with the EC private key of the signing certificate.
    #[arg(
        long = "private_key",
        visible_alias = "private-key",
        value_name = "PRIVATE_KEY"
    )]
    pub(crate) private_key: PathBuf,
    /// PEM file with the signing certificate; its key must be the private key's.
    #[arg(
        long = "signing_certificate",
        visible_alias = "signing-certificate",
        value_name = "CERTIFICATE_PATH"
    )]
    pub(crate) signing_certificate: PathBuf,
    /// PEM file(s) with the certificates to record after the signing certificate
    /// (intermediates, optionally the root). Repeat the flag for several files.
    #[arg(
        long = "certificate_chain",
        visible_alias = "certificate-chain",
        value_name = "CERTIFICATE_PATH"
    )]
    pub(crate) certificate_chain: Vec<PathBuf>,
}

pub(crate) fn sign(method: SignMethod) -> ExitCode {
    let result = match &method {
        SignMethod::Key(args) => sign_key(args),
        SignMethod::Certificate(args) => sign_certificate(args),
    };
    match result {
        Ok(()) => {
            println!("Signing succeeded");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Signing failed with error: {e}");
            ExitCode::from(1)
        }
    }
}

impl CommonSignArgs {
    fn spec(&self) -> ModelSpec {
        self.model
            .spec(Some(self.signature.clone()), HashingConfig::default())
    }

    /// The statement to sign: of the OCI image, or of the model directory.
    fn payload(&self) -> Result<model::SigningPayload, CliError> {
        Ok(match self.model.oci_image() {
            Some(image) => image?.signing_payload(!self.model.oci_exclude_config)?,
            None => model::signing_payload(&self.spec())?,
        })
    }

    fn write(&self, bundle: &Bundle) -> Result<(), CliError> {
        std::fs::write(&self.signature, bundle.to_json())
            .map_err(|e| InputError::os(&pathlib(&self.signature), e).into())
    }
}

fn load_signing_key(path: &Path, password: Option<&str>) -> Result<SigningKey, CliError> {
    let pem = read_input(path)?;
    Ok(SigningKey::from_pem(&pem, password.map(str::as_bytes))?)
}

fn sign_key(args: &SignKeyArgs) -> Result<(), CliError> {
    let key = load_signing_key(&args.private_key, args.password.as_deref())?;
    let payload = args.common.payload()?;
    let bundle = sign::key_bundle(&key, &payload.payload)?;
    args.common.write(&bundle)
}

fn sign_certificate(args: &SignCertificateArgs) -> Result<(), CliError> {
    let key = load_signing_key(&args.private_key, None)?;
    let leaf = sign::signing_certificate_from_pem(&read_input(&args.signing_certificate)?)?;
    let chain = if args.certificate_chain.is_empty() {
        // model_signing 1.1.1 crashes here; HEAD records the leaf alone.
        Vec::new()
    } else {
        sign::chain_from_pem(&read_inputs(&args.certificate_chain)?)?
    };
    // Refuse a certificate for another key before hashing the model.
    sign::check_certificate_key(&key, &leaf)?;
    let payload = args.common.payload()?;
    let bundle = sign::certificate_bundle(&key, &leaf, &chain, &payload.payload)?;
    args.common.write(&bundle)
}
