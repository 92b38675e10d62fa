//! Trust material for keyless verification: the embedded public-good and staging roots, and the
//! files a user passes with `--trust_config`.
//!
//! `--trust_config` takes either a ClientTrustConfig (what `model_signing` takes) or a bare
//! `trusted_root.json` (what a private Sigstore deployment or a TUF client publishes). Both are
//! parsed strictly: unknown fields are errors, as in sigstore-python's models, so a typo in a
//! hand-edited trust file is reported instead of silently dropping a log or a CA.

use std::path::Path;

use serde_json::Value;
use sigstore_trust_root::TrustedRoot;

use super::SigstoreError;
use super::json::{ShapeError, array, object, only_fields};

/// The public-good Sigstore trusted root (`tuf-repo-cdn.sigstore.dev`), as embedded in the binary.
pub const PUBLIC_GOOD_TRUSTED_ROOT: &[u8] =
    include_bytes!("../../../trust/public_good_trusted_root.json");

/// The Sigstore staging trusted root (`tuf-repo-cdn.sigstage.dev`), as embedded in the binary.
pub const STAGING_TRUSTED_ROOT: &[u8] = include_bytes!("../../../trust/staging_trusted_root.json");

/// Media type of a ClientTrustConfig (the only version sigstore-python accepts).
pub(crate) const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

/// Media type of a trusted root (the only version sigstore-python accepts).
pub(crate) const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

/// Where a [`TrustMaterial`] came from, for messages and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// The embedded public-good root.
    PublicGood,
    /// The embedded staging root (`--use_staging`).
    Staging,
    /// A file given with `--trust_config`.
    File(std::path::PathBuf),
    /// Bytes supplied by a caller of the library API.
    Bytes,
}

impl std::fmt::Display for TrustSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PublicGood => f.write_str("embedded public-good trusted root"),
            Self::Staging => f.write_str("embedded staging trusted root"),
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Bytes => f.write_str("trust material"),
        }
    }
}

/// Why trust material cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustConfigError {
    /// The file could not be read (the reader's message names the OS error).
    #[error(transparent)]
    Read(crate::input::InputError),
    /// More JSON values than any real trust file has.
    #[error(transparent)]
    TooManyValues(#[from] crate::json_limits::TooManyValues),
    /// The file is not JSON.
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    /// The top level is not an object.
    #[error("expected a JSON object")]
    NotAnObject,
    /// A ClientTrustConfig without its trusted root.
    #[error("ClientTrustConfig without trustedRoot")]
    NoTrustedRoot,
    /// Neither a ClientTrustConfig nor a trusted root.
    #[error(
        "unknown mediaType '{0}': expected a ClientTrustConfig ({CLIENT_TRUST_CONFIG_MEDIA_TYPE}) or a trusted root ({TRUSTED_ROOT_MEDIA_TYPE})"
    )]
    UnknownMediaType(String),
    /// A trusted root of another version.
    #[error("unsupported trusted root format '{0}'")]
    UnsupportedRootFormat(String),
    /// A member has the wrong type, is missing or is unknown.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// The trusted root does not fit the library's model.
    #[error("invalid trusted root: {0}")]
    InvalidRoot(serde_json::Error),
    /// No transparency log.
    #[error("the trusted root lists no transparency logs (tlogs)")]
    NoTransparencyLogs,
    /// No CT log.
    #[error("the trusted root lists no CT logs (ctlogs)")]
    NoCtLogs,
    /// No certificate authority certificate.
    #[error("the trusted root lists no certificate authority certificates")]
    NoCertificateAuthorities,
    /// The library refused a key, a certificate or a validity window.
    #[error(transparent)]
    Library(#[from] sigstore_verify::Error),
}

/// A validated trusted root.
#[derive(Debug, Clone)]
pub struct TrustMaterial {
    pub(crate) root: TrustedRoot,
    source: TrustSource,
}

impl TrustMaterial {
    /// The embedded public-good root (what `model_signing` fetches through TUF by default).
    pub fn public_good() -> Result<Self, SigstoreError> {
        Self::from_json_bytes(PUBLIC_GOOD_TRUSTED_ROOT, TrustSource::PublicGood)
    }

    /// The embedded staging root (`--use_staging`).
    pub fn staging() -> Result<Self, SigstoreError> {
        Self::from_json_bytes(STAGING_TRUSTED_ROOT, TrustSource::Staging)
    }

    /// Reads `--trust_config`: a ClientTrustConfig or a bare trusted root.
    pub fn from_file(path: &Path) -> Result<Self, SigstoreError> {
        // Regular files only, opened without blocking, size-capped (a FIFO would hang).
        let bytes =
            crate::input::read_small_file(path).map_err(|e| SigstoreError::TrustConfig {
                origin: TrustSource::File(path.to_path_buf()),
                reason: TrustConfigError::Read(e),
            })?;
        Self::from_json_bytes(&bytes, TrustSource::File(path.to_path_buf()))
    }

    /// Parses a ClientTrustConfig or a bare trusted root.
    pub fn from_json_bytes(bytes: &[u8], source: TrustSource) -> Result<Self, SigstoreError> {
        match parse_trusted_root(bytes) {
            Ok(root) => Ok(Self { root, source }),
            Err(reason) => Err(SigstoreError::TrustConfig {
                origin: source,
                reason,
            }),
        }
    }

    /// Where this material came from.
    pub fn source(&self) -> &TrustSource {
        &self.source
    }

    /// The parsed trusted root.
    pub fn trusted_root(&self) -> &TrustedRoot {
        &self.root
    }
}

/// Parses and checks a ClientTrustConfig or a bare trusted root.
fn parse_trusted_root(bytes: &[u8]) -> Result<TrustedRoot, TrustConfigError> {
    crate::json_limits::check(bytes, crate::json_limits::MAX_JSON_VALUES)?;
    let value: Value = serde_json::from_slice(bytes).map_err(TrustConfigError::NotJson)?;
    let top = value.as_object().ok_or(TrustConfigError::NotAnObject)?;
    let media_type = top.get("mediaType").and_then(Value::as_str).unwrap_or("");
    let root_value = match media_type {
        CLIENT_TRUST_CONFIG_MEDIA_TYPE => {
            only_fields(top, "", &["mediaType", "trustedRoot", "signingConfig"])?;
            top.get("trustedRoot")
                .ok_or(TrustConfigError::NoTrustedRoot)?
        }
        m if m.starts_with("application/vnd.dev.sigstore.trustedroot") => &value,
        other => return Err(TrustConfigError::UnknownMediaType(other.to_owned())),
    };
    check_trusted_root_shape(root_value)?;
    let root: TrustedRoot =
        serde_json::from_value(root_value.clone()).map_err(TrustConfigError::InvalidRoot)?;
    if root.tlogs.is_empty() {
        return Err(TrustConfigError::NoTransparencyLogs);
    }
    if root.ctlogs.is_empty() {
        return Err(TrustConfigError::NoCtLogs);
    }
    if root
        .certificate_authorities
        .iter()
        .all(|ca| ca.cert_chain.certificates.is_empty())
    {
        return Err(TrustConfigError::NoCertificateAuthorities);
    }
    // Building the library's verifier validates every key, certificate and validity window
    // now, so a broken trust file fails before any model is read.
    sigstore_verify::Verifier::new(&root)?;
    Ok(root)
}

/// The TrustedRoot field set of protobuf-specs (`sigstore_models.trustroot.v1`).
fn check_trusted_root_shape(v: &Value) -> Result<(), TrustConfigError> {
    let root = object(v, "trustedRoot")?;
    only_fields(
        root,
        "trustedRoot",
        &[
            "mediaType",
            "tlogs",
            "certificateAuthorities",
            "ctlogs",
            "timestampAuthorities",
        ],
    )?;
    match root.get("mediaType").and_then(Value::as_str) {
        Some(TRUSTED_ROOT_MEDIA_TYPE) => {}
        Some(other) => return Err(TrustConfigError::UnsupportedRootFormat(other.to_owned())),
        None => {
            return Err(ShapeError::Missing {
                path: "trustedRoot".into(),
                key: "mediaType",
            }
            .into());
        }
    }
    for key in ["tlogs", "ctlogs"] {
        if let Some(list) = root.get(key) {
            for (i, log) in array(list, key)?.iter().enumerate() {
                check_log_shape(log, &format!("{key}[{i}]"))?;
            }
        }
    }
    for key in ["certificateAuthorities", "timestampAuthorities"] {
        if let Some(list) = root.get(key) {
            for (i, ca) in array(list, key)?.iter().enumerate() {
                check_ca_shape(ca, &format!("{key}[{i}]"))?;
            }
        }
    }
    Ok(())
}

fn check_log_shape(v: &Value, path: &str) -> Result<(), TrustConfigError> {
    let log = object(v, path)?;
    only_fields(
        log,
        path,
        &[
            "baseUrl",
            "hashAlgorithm",
            "publicKey",
            "logId",
            "checkpointKeyId",
            "operator",
        ],
    )?;
    if let Some(pk) = log.get("publicKey") {
        let p = format!("{path}.publicKey");
        let pk = object(pk, &p)?;
        only_fields(pk, &p, &["rawBytes", "keyDetails", "validFor"])?;
        if let Some(vf) = pk.get("validFor") {
            check_valid_for(vf, &format!("{p}.validFor"))?;
        }
    }
    for key in ["logId", "checkpointKeyId"] {
        if let Some(id) = log.get(key) {
            let p = format!("{path}.{key}");
            only_fields(object(id, &p)?, &p, &["keyId"])?;
        }
    }
    Ok(())
}

fn check_ca_shape(v: &Value, path: &str) -> Result<(), TrustConfigError> {
    let ca = object(v, path)?;
    only_fields(
        ca,
        path,
        &["subject", "uri", "certChain", "validFor", "operator"],
    )?;
    if let Some(s) = ca.get("subject") {
        let p = format!("{path}.subject");
        only_fields(object(s, &p)?, &p, &["organization", "commonName"])?;
    }
    if let Some(chain) = ca.get("certChain") {
        let p = format!("{path}.certChain");
        let chain = object(chain, &p)?;
        only_fields(chain, &p, &["certificates"])?;
        if let Some(certs) = chain.get("certificates") {
            for (i, c) in array(certs, &p)?.iter().enumerate() {
                let cp = format!("{p}.certificates[{i}]");
                only_fields(object(c, &cp)?, &cp, &["rawBytes"])?;
            }
        }
    }
    if let Some(vf) = ca.get("validFor") {
        check_valid_for(vf, &format!("{path}.validFor"))?;
    }
    Ok(())
}

fn check_valid_for(v: &Value, path: &str) -> Result<(), TrustConfigError> {
    Ok(only_fields(object(v, path)?, path, &["start", "end"])?)
}
