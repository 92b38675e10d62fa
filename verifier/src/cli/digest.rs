//! `digest`: the model's root digest, as `model_signing digest` prints it.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use model_verifier::hashing::{DEFAULT_SHARD_SIZE, HashAlgorithm, HashingConfig, Serialization};
use model_verifier::manifest::Manifest;
use model_verifier::model::{self, ModelSpec, Selection};

use super::{CliError, ModelArgs};

/// `digest MODEL_PATH ...`
#[derive(Debug, Args)]
pub(crate) struct DigestArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// One resource per file, or per shard of `--shard-size` bytes (extension).
    #[arg(long, value_enum, default_value_t = SerializationArg::Files)]
    pub(crate) serialization: SerializationArg,
    /// Content hash (extension; the root digest is always SHA-256).
    #[arg(long = "hash", value_enum, default_value_t = HashArg::Sha256)]
    pub(crate) hash: HashArg,
    /// Shard size in bytes for `--serialization shards`.
    #[arg(
        long = "shard-size",
        visible_alias = "shard_size",
        default_value_t = DEFAULT_SHARD_SIZE,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) shard_size: u64,
}

/// `--serialization`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SerializationArg {
    /// One resource per file.
    Files,
    /// Files cut into shards.
    Shards,
}

/// `--hash`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HashArg {
    /// SHA-256.
    Sha256,
    /// BLAKE2b-512.
    #[value(alias = "blake2")]
    Blake2b,
    /// BLAKE3.
    Blake3,
}

impl DigestArgs {
    fn spec(&self) -> ModelSpec {
        let algorithm = match self.hash {
            HashArg::Sha256 => HashAlgorithm::Sha256,
            HashArg::Blake2b => HashAlgorithm::Blake2b,
            HashArg::Blake3 => HashAlgorithm::Blake3,
        };
        let serialization = match self.serialization {
            SerializationArg::Files => Serialization::Files,
            SerializationArg::Shards => Serialization::Shards {
                shard_size: self.shard_size,
            },
        };
        self.model
            .spec(None, HashingConfig::new(algorithm, serialization))
    }
}

/// The manifest `digest` prints the root digest of.
fn digest_manifest(args: &DigestArgs) -> Result<Manifest, CliError> {
    let default_hashing =
        args.serialization == SerializationArg::Files && args.hash == HashArg::Sha256;
    match args.model.oci_image() {
        Some(_) if !default_hashing => Err(CliError::OciHashing),
        Some(image) => Ok(image?.items(!args.model.oci_exclude_config)?),
        None => {
            let spec = args.spec();
            let ignore = spec.ignore_set(&[])?;
            Ok(model::compute(&spec, &ignore, Selection::Walk)?.manifest)
        }
    }
}

pub(crate) fn digest(args: &DigestArgs) -> ExitCode {
    match digest_manifest(args) {
        Ok(manifest) => {
            println!("sha256:{}", hex::encode(manifest.root_digest()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Computing digest failed: {e}");
            ExitCode::from(1)
        }
    }
}
