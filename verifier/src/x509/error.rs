//! Why an X.509 path could not be built or validated.

/// Why a path could not be built or validated. The first words of each message are the
/// OpenSSL `X509_verify_cert_error_string` text Python prints; a detail follows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// A certificate could not be parsed.
    #[error("unable to parse {what} as an X.509 certificate: {reason}")]
    Malformed {
        /// Which certificate.
        what: String,
        /// The parser's reason.
        reason: String,
    },
    /// The path ends at a trusted certificate that is not self-signed and whose issuer is
    /// unknown.
    #[error(
        "unable to get issuer certificate: no certificate for issuer `{issuer}` (of trusted `{subject}`)"
    )]
    UnableToGetIssuer {
        /// The certificate whose issuer is missing.
        subject: String,
        /// The missing issuer's name.
        issuer: String,
    },
    /// The path ends at an untrusted certificate whose issuer is unknown.
    #[error(
        "unable to get local issuer certificate: no trusted certificate or bundle intermediate for issuer `{issuer}` (of `{subject}`)"
    )]
    UnableToGetLocalIssuer {
        /// The certificate whose issuer is missing.
        subject: String,
        /// The missing issuer's name.
        issuer: String,
    },
    /// The leaf is self-signed and not trusted.
    #[error("self-signed certificate: `{0}` is not among the trusted certificates")]
    SelfSignedLeaf(String),
    /// The path ends at a self-signed certificate that is not trusted.
    #[error(
        "self-signed certificate in certificate chain: `{0}` is not among the trusted certificates"
    )]
    SelfSignedInChain(String),
    /// A certificate is not yet valid at the validation time.
    #[error(
        "certificate is not yet valid: `{subject}` is valid from {not_before} (validation time {at})"
    )]
    NotYetValid {
        /// The certificate.
        subject: String,
        /// Its notBefore, RFC 3339.
        not_before: String,
        /// The validation time, RFC 3339.
        at: String,
    },
    /// A certificate has expired at the validation time.
    #[error(
        "certificate has expired: `{subject}` is valid until {not_after} (validation time {at})"
    )]
    Expired {
        /// The certificate.
        subject: String,
        /// Its notAfter, RFC 3339.
        not_after: String,
        /// The validation time, RFC 3339.
        at: String,
    },
    /// An issuer is not a CA.
    #[error("invalid CA certificate: `{subject}` {reason}")]
    InvalidCa {
        /// The issuer.
        subject: String,
        /// Why it is not a CA.
        reason: &'static str,
    },
    /// pathLenConstraint exceeded.
    #[error(
        "path length constraint exceeded: `{subject}` allows {path_len} intermediate CA(s) below it"
    )]
    PathLengthExceeded {
        /// The constraining CA.
        subject: String,
        /// Its pathLenConstraint.
        path_len: u32,
    },
    /// A critical extension OpenSSL does not handle.
    #[error("unhandled critical extension {oid} in `{subject}`")]
    UnhandledCriticalExtension {
        /// The certificate.
        subject: String,
        /// The extension OID.
        oid: String,
    },
    /// An extension that cannot be parsed or appears twice.
    #[error("invalid or inconsistent certificate extension in `{0}`")]
    BadExtension(String),
    /// A name is outside the permitted subtrees of a CA's name constraints.
    #[error("permitted subtree violation: {name} in `{subject}` is not permitted by `{ca}`")]
    PermittedSubtreeViolation {
        /// The constrained certificate.
        subject: String,
        /// The name, e.g. `DNS:evil.example`.
        name: String,
        /// The CA whose constraints apply.
        ca: String,
    },
    /// A name is inside an excluded subtree of a CA's name constraints.
    #[error("excluded subtree violation: {name} in `{subject}` is excluded by `{ca}`")]
    ExcludedSubtreeViolation {
        /// The constrained certificate.
        subject: String,
        /// The name.
        name: String,
        /// The CA whose constraints apply.
        ca: String,
    },
    /// A name that cannot be checked against a constraint of its type.
    #[error("unsupported name syntax: {name} in `{subject}`")]
    UnsupportedNameSyntax {
        /// The certificate.
        subject: String,
        /// The name.
        name: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("certificate signature failure: `{subject}` is not signed by the key of `{issuer}`")]
    BadSignature {
        /// The signed certificate.
        subject: String,
        /// The issuer tried.
        issuer: String,
    },
    /// A signature algorithm aws-lc-rs cannot check (or OpenSSL would refuse, like SHA-1).
    #[error("unsupported certificate signature algorithm {algorithm} on `{subject}`")]
    UnsupportedSignatureAlgorithm {
        /// The certificate.
        subject: String,
        /// The algorithm OID.
        algorithm: String,
    },
    /// The search gave up.
    #[error("certificate chain too long or too many candidate issuers")]
    Budget,
}

impl PathError {
    /// How specific the error is: when several candidate paths fail, the highest wins.
    fn rank(&self) -> u8 {
        match self {
            Self::Malformed { .. } | Self::Budget => 0,
            Self::UnableToGetIssuer { .. } | Self::UnableToGetLocalIssuer { .. } => 1,
            Self::SelfSignedLeaf(_) | Self::SelfSignedInChain(_) => 2,
            Self::BadSignature { .. } | Self::UnsupportedSignatureAlgorithm { .. } => 3,
            _ => 4,
        }
    }
}

pub(super) fn most_specific(current: Option<PathError>, new: PathError) -> Option<PathError> {
    match current {
        Some(c) if c.rank() >= new.rank() => Some(c),
        _ => Some(new),
    }
}
