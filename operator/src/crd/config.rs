//! `spec.config`: the verification method and the signers it trusts.
//!
//! Each method takes one signer in upstream's spelling (`certificateIdentity` +
//! `certificateOidcIssuer`, `certificateAuthority`, `keyPath`) and, as an extension, several:
//! `identities`, the `...RegExp` spellings, `certificateAuthorities`, `keyPaths`. Any of the
//! signers may have signed. The CEL rules here have Rust twins in [`ValidationConfig::signers`]
//! and friends, with the same messages.

use kube::KubeSchema;
use mv_shared::verify::{Pattern, SignerIdentity};
use serde::{Deserialize, Serialize};

use super::{
    CEL_ABSOLUTE, CEL_BOTH_KEYS, CEL_EXACTLY_ONE, CEL_IGNORE_ABSOLUTE, MSG_ABSOLUTE_PATH,
    MSG_BOTH_KEY_SPELLINGS, MSG_EXACTLY_ONE_METHOD, SpecError,
};

/// Most signers of one kind in one policy.
pub const MAX_SIGNERS: usize = 32;

/// Message of the signer-pair rule (CEL and Rust).
pub const MSG_SIGNER_PAIR: &str = "a Sigstore signer has exactly one of certificateIdentity and certificateIdentityRegExp, and exactly one of certificateOidcIssuer and certificateOidcIssuerRegExp";
/// Message of the rule that a Sigstore method names at least one signer.
pub const MSG_NO_SIGNER: &str = "sigstoreConfig needs a signer: certificateIdentity (or certificateIdentityRegExp) with certificateOidcIssuer (or certificateOidcIssuerRegExp), or a non-empty identities list";
/// Message of the rule that the key method names at least one key.
pub const MSG_NO_KEY: &str = "publicKeyConfig needs keyPath or a non-empty keyPaths";
/// Message of the rule that the certificate method names at least one authority.
pub const MSG_NO_CA: &str =
    "pkiConfig needs certificateAuthority or a non-empty certificateAuthorities";

const CEL_EACH_PAIR: &str = "self.all(i, (has(i.certificateIdentity) ? 1 : 0) + (has(i.certificateIdentityRegExp) ? 1 : 0) == 1 && (has(i.certificateOidcIssuer) ? 1 : 0) + (has(i.certificateOidcIssuerRegExp) ? 1 : 0) == 1)";
const CEL_TOP_PAIR: &str = "!(has(self.certificateIdentity) || has(self.certificateIdentityRegExp) || has(self.certificateOidcIssuer) || has(self.certificateOidcIssuerRegExp)) || ((has(self.certificateIdentity) ? 1 : 0) + (has(self.certificateIdentityRegExp) ? 1 : 0) == 1 && (has(self.certificateOidcIssuer) ? 1 : 0) + (has(self.certificateOidcIssuerRegExp) ? 1 : 0) == 1)";
const CEL_SOME_SIGNER: &str = "has(self.certificateIdentity) || has(self.certificateIdentityRegExp) || has(self.certificateOidcIssuer) || has(self.certificateOidcIssuerRegExp) || (has(self.identities) && size(self.identities) > 0)";
const CEL_SOME_KEY: &str = "has(self.keyPath) || (has(self.keyPaths) && size(self.keyPaths) > 0)";
const CEL_SOME_CA: &str = "has(self.certificateAuthority) || (has(self.certificateAuthorities) && size(self.certificateAuthorities) > 0)";

/// The verification method (a union: exactly one member) and optional trust material.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(CEL_EXACTLY_ONE).message(MSG_EXACTLY_ONE_METHOD),
    validation = kube::core::Rule::new(CEL_BOTH_KEYS).message(MSG_BOTH_KEY_SPELLINGS)
)]
pub struct ValidationConfig {
    /// Keyless Sigstore signature: the signers' identities and OIDC issuers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigstore_config: Option<SigstoreConfig>,
    /// Signature made with a certificate that chains to one of the given certificate
    /// authorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pki_config: Option<PkiConfig>,
    /// Signature made with an elliptic-curve key; the public keys are files in the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_config: Option<PublicKeyConfig>,
    /// Deprecated spelling of `publicKeyConfig` (older manifests); same meaning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_config: Option<PublicKeyConfig>,
    /// Sigstore ClientTrustConfig (or trusted_root.json) for a private Sigstore instance. Allowed
    /// with any method, as upstream; only `sigstoreConfig` uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_trust_config: Option<ClientTrustConfig>,
}

/// Keyless (Sigstore) verification: the certificate must match one signer, identity and issuer
/// of the same signer (never one signer's identity with another's issuer).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(CEL_TOP_PAIR).message(MSG_SIGNER_PAIR),
    validation = kube::core::Rule::new(CEL_SOME_SIGNER).message(MSG_NO_SIGNER)
)]
pub struct SigstoreConfig {
    /// The signer in upstream's spelling (`certificateIdentity`, `certificateOidcIssuer`) or
    /// with regular expressions; optional when `identities` names the signers.
    #[serde(flatten)]
    pub signer: SigstoreIdentity,
    /// More signers, any of which may have signed (each an identity and an issuer, exact or
    /// regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(CEL_EACH_PAIR).message(MSG_SIGNER_PAIR))]
    #[schemars(length(max = 32))]
    pub identities: Option<Vec<SigstoreIdentity>>,
}

/// One Sigstore signer: exactly one spelling of the identity and exactly one of the issuer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SigstoreIdentity {
    /// Expected identity of the signer (a SAN of the Fulcio certificate), compared exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub certificate_identity: Option<String>,
    /// Expected OIDC issuer of that identity, e.g. `https://accounts.google.com`, compared
    /// exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub certificate_oidc_issuer: Option<String>,
    /// The identity as a regular expression (RE2 syntax) that must match the whole SAN (it is
    /// anchored: `^(?:...)$`), as cosign's `--certificate-identity-regexp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub certificate_identity_reg_exp: Option<String>,
    /// The OIDC issuer as a regular expression that must match the whole issuer (anchored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub certificate_oidc_issuer_reg_exp: Option<String>,
}

/// Certificate (PKI) verification.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(CEL_SOME_CA).message(MSG_NO_CA))]
pub struct PkiConfig {
    /// Absolute path in the pod of the PEM file with the trusted certificate authority chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(CEL_ABSOLUTE).message(MSG_ABSOLUTE_PATH))]
    #[schemars(length(min = 1, max = 4096))]
    pub certificate_authority: Option<String>,
    /// More PEM files of trusted authorities; a signature chaining to any of them verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(CEL_IGNORE_ABSOLUTE).message("every entry must be an absolute path (starting with /)"))]
    #[schemars(length(max = 32), inner(length(min = 1, max = 4096)))]
    pub certificate_authorities: Option<Vec<String>>,
}

/// Public-key verification.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(CEL_SOME_KEY).message(MSG_NO_KEY))]
pub struct PublicKeyConfig {
    /// Absolute path in the pod of the PEM public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(CEL_ABSOLUTE).message(MSG_ABSOLUTE_PATH))]
    #[schemars(length(min = 1, max = 4096))]
    pub key_path: Option<String>,
    /// More public keys (absolute paths in the pod); a signature by any of them verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(CEL_IGNORE_ABSOLUTE).message("every entry must be an absolute path (starting with /)"))]
    #[schemars(length(max = 32), inner(length(min = 1, max = 4096)))]
    pub key_paths: Option<Vec<String>>,
}

/// Trust material for a private Sigstore instance.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientTrustConfig {
    /// Absolute path in the pod of the ClientTrustConfig JSON.
    #[x_kube(validation = kube::core::Rule::new(CEL_ABSOLUTE).message(MSG_ABSOLUTE_PATH))]
    #[schemars(length(min = 1, max = 4096))]
    pub trust_config_path: String,
}

/// A signer's regular expression that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}.{which} {pattern:?} is not a valid regular expression: {reason}")]
pub struct RegExpError {
    /// Where: `spec.config.sigstoreConfig` or `...identities`.
    pub field: &'static str,
    /// Which of the two.
    pub which: &'static str,
    /// The pattern.
    pub pattern: Box<str>,
    /// The regex crate's message.
    pub reason: Box<str>,
}

impl SigstoreIdentity {
    fn is_empty(&self) -> bool {
        self.certificate_identity.is_none()
            && self.certificate_identity_reg_exp.is_none()
            && self.certificate_oidc_issuer.is_none()
            && self.certificate_oidc_issuer_reg_exp.is_none()
    }

    /// The signer, or why it is not one; `field` says where it is for the message.
    fn signer(&self, field: &'static str) -> Result<SignerIdentity, SpecError> {
        let pattern = |exact: &Option<String>, regexp: &Option<String>, what: &'static str| match (
            exact, regexp,
        ) {
            (Some(e), None) => Ok(Pattern::Exact(e.clone())),
            (None, Some(r)) => {
                mv_shared::signer::check_regexp(r).map_err(|e| {
                    SpecError::RegExp(Box::new(RegExpError {
                        field,
                        which: what,
                        pattern: r.as_str().into(),
                        reason: e.to_string().into(),
                    }))
                })?;
                Ok(Pattern::RegExp(r.clone()))
            }
            _ => Err(SpecError::SignerPair { field }),
        };
        Ok(SignerIdentity {
            identity: pattern(
                &self.certificate_identity,
                &self.certificate_identity_reg_exp,
                "certificateIdentityRegExp",
            )?,
            issuer: pattern(
                &self.certificate_oidc_issuer,
                &self.certificate_oidc_issuer_reg_exp,
                "certificateOidcIssuerRegExp",
            )?,
        })
    }
}

impl SigstoreConfig {
    /// Exact signer (upstream's spelling).
    pub fn exact(identity: &str, issuer: &str) -> Self {
        Self {
            signer: SigstoreIdentity {
                certificate_identity: Some(identity.to_owned()),
                certificate_oidc_issuer: Some(issuer.to_owned()),
                ..SigstoreIdentity::default()
            },
            identities: None,
        }
    }

    /// Every trusted signer, the top-level one first; the Rust twin of the CEL rules (pairs
    /// complete, at least one signer) plus what CEL cannot check: the regular expressions
    /// compile.
    pub fn signers(&self) -> Result<Vec<SignerIdentity>, SpecError> {
        let mut out = Vec::new();
        if !self.signer.is_empty() {
            out.push(self.signer.signer("spec.config.sigstoreConfig")?);
        }
        for i in self.identities.iter().flatten() {
            out.push(i.signer("spec.config.sigstoreConfig.identities")?);
        }
        if out.is_empty() {
            return Err(SpecError::NoSigner {
                message: MSG_NO_SIGNER,
            });
        }
        if out.len() > MAX_SIGNERS + 1 {
            return Err(SpecError::TooManySigners {
                field: "spec.config.sigstoreConfig.identities",
            });
        }
        Ok(out)
    }
}

/// `single` and `more` as one list, each absolute; `message` when there is none.
fn files<'a>(
    single: Option<&'a String>,
    more: Option<&'a Vec<String>>,
    fields: (&'static str, &'static str),
    message: &'static str,
) -> Result<Vec<&'a str>, SpecError> {
    let mut out: Vec<&str> = Vec::new();
    if let Some(s) = single {
        super::absolute(fields.0, s)?;
        out.push(s);
    }
    let more = more.map(Vec::as_slice).unwrap_or_default();
    if more.len() > MAX_SIGNERS {
        return Err(SpecError::TooManySigners { field: fields.1 });
    }
    for s in more {
        super::absolute(fields.1, s)?;
        if !out.contains(&s.as_str()) {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(SpecError::NoSigner { message });
    }
    Ok(out)
}

impl PublicKeyConfig {
    /// One key (upstream's spelling).
    pub fn single(path: &str) -> Self {
        Self {
            key_path: Some(path.to_owned()),
            key_paths: None,
        }
    }

    /// Every trusted key file, `keyPath` first, without repeats.
    pub fn key_files(&self) -> Result<Vec<&str>, SpecError> {
        files(
            self.key_path.as_ref(),
            self.key_paths.as_ref(),
            (
                "spec.config.publicKeyConfig.keyPath",
                "spec.config.publicKeyConfig.keyPaths",
            ),
            MSG_NO_KEY,
        )
    }
}

impl PkiConfig {
    /// Every trusted authority file, `certificateAuthority` first, without repeats.
    pub fn authority_files(&self) -> Result<Vec<&str>, SpecError> {
        files(
            self.certificate_authority.as_ref(),
            self.certificate_authorities.as_ref(),
            (
                "spec.config.pkiConfig.certificateAuthority",
                "spec.config.pkiConfig.certificateAuthorities",
            ),
            MSG_NO_CA,
        )
    }
}

/// Whether a string field of a signer is set but empty (the schema's minLength, for servers
/// that do not check it).
pub(super) fn empty_identity_field(c: &SigstoreConfig) -> Option<&'static str> {
    let empty = |v: &Option<String>| v.as_deref() == Some("");
    let c = &c.signer;
    [
        (
            &c.certificate_identity,
            "spec.config.sigstoreConfig.certificateIdentity",
        ),
        (
            &c.certificate_oidc_issuer,
            "spec.config.sigstoreConfig.certificateOidcIssuer",
        ),
        (
            &c.certificate_identity_reg_exp,
            "spec.config.sigstoreConfig.certificateIdentityRegExp",
        ),
        (
            &c.certificate_oidc_issuer_reg_exp,
            "spec.config.sigstoreConfig.certificateOidcIssuerRegExp",
        ),
    ]
    .into_iter()
    .find(|(v, _)| empty(v))
    .map(|(_, f)| f)
}
