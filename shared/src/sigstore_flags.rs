//! The flags of `verify sigstore` and how they become [`SigstoreArgs`]: the identity flags are
//! repeatable and paired by position into [`SignerIdentity`]s.
//!
//! clap parses [`SigstoreFlags`] (one field per flag); [`SigstoreArgs`] implements clap's `Args`
//! through it and pairs the flags, so a count mismatch or a missing pair is a usage error (exit 2)
//! like any other, and an invalid regular expression is refused by clap's value parser with the
//! flag and the pattern named.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{ArgMatches, Args, FromArgMatches};

use crate::signer::{Pattern, SignerIdentity, check_regexp};
use crate::verify::{CommonVerifyArgs, SigstoreArgs};

/// The flags of `verify sigstore`, as clap parses them (see [`SigstoreArgs`] for their meaning).
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct SigstoreFlags {
    #[command(flatten)]
    pub common: CommonVerifyArgs,
    /// The expected identity of a signer: a SAN of the Fulcio certificate (an email address, a
    /// workflow URI, …), compared exactly. Repeatable (extension): the n-th `--identity` pairs
    /// with the n-th `--identity_provider`.
    #[arg(long, value_name = "ID")]
    pub identity: Vec<String>,
    /// The OIDC issuer of the identity given at the same position (e.g.
    /// `https://accounts.google.com`), compared exactly. Repeatable, like `--identity`.
    #[arg(
        long = "identity_provider",
        visible_alias = "identity-provider",
        value_name = "URL"
    )]
    pub identity_provider: Vec<String>,
    /// Extension: a regular expression that must match a whole SAN (anchored). Repeatable; the
    /// n-th pairs with the n-th `--identity-provider-regexp`.
    #[arg(
        long = "identity-regexp",
        visible_alias = "identity_regexp",
        value_name = "REGEXP",
        value_parser = regexp_arg
    )]
    pub identity_regexp: Vec<String>,
    /// Extension: a regular expression that must match the whole OIDC issuer of the
    /// `--identity-regexp` at the same position. Repeatable.
    #[arg(
        long = "identity-provider-regexp",
        visible_alias = "identity_provider_regexp",
        value_name = "REGEXP",
        value_parser = regexp_arg
    )]
    pub identity_provider_regexp: Vec<String>,
    /// Trust material: a ClientTrustConfig JSON (as `model_signing` takes) or a bare
    /// `trusted_root.json`. Default: the public-good Sigstore root embedded in the binary.
    #[arg(
        long = "trust_config",
        visible_alias = "trust-config",
        value_name = "FILE"
    )]
    pub trust_config: Option<PathBuf>,
    /// Use the embedded Sigstore staging root instead of the public-good one.
    #[arg(long = "use_staging", visible_alias = "use-staging")]
    pub use_staging: bool,
}

fn regexp_arg(text: &str) -> Result<String, String> {
    check_regexp(text)
        .map(|()| text.to_owned())
        .map_err(|e| e.reason.to_string())
}

/// Pairs `identities[n]` with `issuers[n]`; each pair is tagged with the command-line position of
/// its identity so that exact and regexp pairs keep their order.
fn pairs(
    flags: (&str, &str),
    identities: &[String],
    issuers: &[String],
    positions: Vec<usize>,
    pattern: fn(String) -> Pattern,
) -> Result<Vec<(usize, SignerIdentity)>, clap::Error> {
    if identities.len() != issuers.len() {
        let (identity_flag, issuer_flag) = flags;
        return Err(clap::Error::raw(
            ErrorKind::WrongNumberOfValues,
            format!(
                "{identity_flag} and {issuer_flag} are paired by position, so they must be given \
                 the same number of times (got {} {identity_flag} and {} {issuer_flag})",
                identities.len(),
                issuers.len()
            ),
        ));
    }
    Ok(identities
        .iter()
        .zip(issuers)
        .enumerate()
        .map(|(n, (identity, issuer))| {
            let at = positions.get(n).copied().unwrap_or(usize::MAX);
            let signer = SignerIdentity {
                identity: pattern(identity.clone()),
                issuer: pattern(issuer.clone()),
            };
            (at, signer)
        })
        .collect())
}

impl SigstoreArgs {
    /// The arguments from the parsed flags; `matches` gives the flags' positions.
    fn from_flags(flags: SigstoreFlags, matches: &ArgMatches) -> Result<Self, clap::Error> {
        let positions = |id: &str| {
            matches
                .indices_of(id)
                .map(Iterator::collect)
                .unwrap_or_default()
        };
        let mut signers = pairs(
            ("--identity", "--identity_provider"),
            &flags.identity,
            &flags.identity_provider,
            positions("identity"),
            Pattern::Exact,
        )?;
        signers.extend(pairs(
            ("--identity-regexp", "--identity-provider-regexp"),
            &flags.identity_regexp,
            &flags.identity_provider_regexp,
            positions("identity_regexp"),
            Pattern::RegExp,
        )?);
        if signers.is_empty() {
            return Err(clap::Error::raw(
                ErrorKind::MissingRequiredArgument,
                "a trusted signer is required: --identity ID --identity_provider URL, or \
                 --identity-regexp REGEXP --identity-provider-regexp REGEXP",
            ));
        }
        signers.sort_by_key(|(at, _)| *at);
        Ok(Self {
            common: flags.common,
            signers: signers.into_iter().map(|(_, s)| s).collect(),
            trust_config: flags.trust_config,
            use_staging: flags.use_staging,
        })
    }
}

impl FromArgMatches for SigstoreArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_flags(SigstoreFlags::from_arg_matches(matches)?, matches)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for SigstoreArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        SigstoreFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        SigstoreFlags::augment_args_for_update(cmd)
    }
}
