//! Step (e) of §6.3: the leaf's profile (KeyUsage, ExtendedKeyUsage) and the identity policy
//! (SAN and OIDC issuer), with sigstore-python's semantics and messages.
//!
//! The keyless library compares only the *first* email/URI SAN and prefers the v2 issuer
//! extension; Python accepts any SAN (email, URI or the Sigstore otherName) and reads the v1
//! extension. Both checks therefore live here, and the engine runs with an any-identity policy.

use mv_shared::signer::{Matcher, PatternError, SignerIdentity, SignerMatcher};
use x509_parser::error::X509Error;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Fulcio's v1 OIDC issuer extension: the raw extension value is the issuer URL in UTF-8.
const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// Fulcio's v2 OIDC issuer extension: a DER UTF8String.
const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// The otherName type Fulcio uses for usernames (a DER UTF8String).
const OID_OTHERNAME_USERNAME: &str = "1.3.6.1.4.1.57264.1.7";
const OID_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

/// The identity policy: the trusted signers (`--identity`/`--identity_provider` pairs, and the
/// `--identity-regexp`/`--identity-provider-regexp` pairs). A certificate is admitted when one
/// signer matches both its OIDC issuer and one of its SANs.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    signers: Vec<SignerIdentity>,
    matchers: Vec<SignerMatcher>,
}

impl PartialEq for IdentityPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.signers == other.signers
    }
}

/// Why an identity policy cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No signer at all would admit nothing.
    #[error("no trusted signer: give at least one identity and OIDC issuer")]
    NoSigners,
    /// A regular expression does not compile.
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

impl IdentityPolicy {
    /// One signer, identity and issuer compared exactly (`model_signing`'s policy).
    pub fn exact(identity: impl Into<String>, issuer: impl Into<String>) -> Self {
        let signer = SignerIdentity::exact(identity, issuer);
        let matcher = SignerMatcher {
            identity: Matcher::Exact(signer.identity.as_str().to_owned()),
            issuer: Matcher::Exact(signer.issuer.as_str().to_owned()),
        };
        Self {
            signers: vec![signer],
            matchers: vec![matcher],
        }
    }

    /// Any of `signers` (at least one); fails if a regular expression does not compile.
    pub fn new(signers: Vec<SignerIdentity>) -> Result<Self, PolicyError> {
        if signers.is_empty() {
            return Err(PolicyError::NoSigners);
        }
        let matchers = signers
            .iter()
            .map(SignerIdentity::compile)
            .collect::<Result<_, _>>()?;
        Ok(Self { signers, matchers })
    }

    /// The trusted signers.
    pub fn signers(&self) -> &[SignerIdentity] {
        &self.signers
    }

    /// The SAN that admits a certificate with OIDC issuer `issuer` and identity SANs `sans`.
    ///
    /// One exact signer keeps sigstore-python's checks and messages (issuer first, then the
    /// SANs); otherwise the first signer whose issuer AND identity both match admits it, and
    /// when none does the error lists the certificate's issuer and SANs and every signer.
    pub fn admit(&self, issuer: &str, sans: &[String]) -> Result<String, LeafError> {
        if let [only] = self.signers.as_slice()
            && only.is_exact()
        {
            if issuer != only.issuer.as_str() {
                return Err(LeafError::IssuerMismatch {
                    got: issuer.to_owned(),
                    expected: only.issuer.as_str().to_owned(),
                });
            }
            let identity = only.identity.as_str();
            if sans.iter().any(|san| san == identity) {
                return Ok(identity.to_owned());
            }
            return Err(LeafError::IdentityMismatch {
                expected: identity.to_owned(),
                actual: sorted(sans),
            });
        }
        if let Some(san) = self.matchers.iter().find_map(|m| m.admits(issuer, sans)) {
            return Ok(san.to_owned());
        }
        Err(LeafError::NoSignerMatches {
            issuer: issuer.to_owned(),
            sans: sorted(sans),
            expected: self.signers.clone(),
        })
    }
}

fn sorted(sans: &[String]) -> Vec<String> {
    let mut sans = sans.to_vec();
    sans.sort();
    sans.dedup();
    sans
}

/// Why the signing certificate's profile or identity is not acceptable (§6.3 (e)).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LeafError {
    /// A built-in OID constant does not parse (a bug, never input-dependent).
    #[error("bad built-in OID {0}")]
    BuiltInOid(&'static str),
    /// The certificate is not DER X.509.
    #[error("the signing certificate is not valid DER X.509: {0}")]
    NotX509(x509_parser::nom::Err<X509Error>),
    /// Bytes after the certificate.
    #[error("trailing bytes after the signing certificate")]
    TrailingBytes,
    /// No SCT-list extension.
    #[error("Certificate does not contain a signed certificate timestamp extension")]
    NoSct,
    /// Two SCT-list extensions.
    #[error("Certificate has more than one SCT list extension")]
    TwoSctLists,
    /// An extension that does not parse.
    #[error("bad {extension}: {error}")]
    BadExtension {
        /// `basicConstraints`, `KeyUsage` or `ExtendedKeyUsage`.
        extension: &'static str,
        /// The parser's complaint.
        error: X509Error,
    },
    /// The leaf is a CA.
    #[error("the signing certificate is a CA certificate")]
    IsCa,
    /// KeyUsage without digitalSignature.
    #[error("Key usage is not of type `digital signature`")]
    NoDigitalSignature,
    /// ExtendedKeyUsage without codeSigning.
    #[error("Extended usage does not contain `code signing`")]
    NoCodeSigning,
    /// The v1 issuer extension twice.
    #[error("Certificate has two OIDCIssuer extensions")]
    TwoIssuersV1,
    /// The v2 issuer extension twice.
    #[error("Certificate has two OIDCIssuer v2 extensions")]
    TwoIssuersV2,
    /// The v1 issuer extension is not UTF-8.
    #[error("Certificate's OIDCIssuer (1.3.6.1.4.1.57264.1.1) is not UTF-8")]
    IssuerV1NotUtf8,
    /// The v2 issuer extension is not a DER UTF8String.
    #[error("Certificate's OIDCIssuer v2 (1.3.6.1.4.1.57264.1.8) is not a DER UTF8String")]
    IssuerV2NotUtf8String,
    /// Neither issuer extension.
    #[error("Certificate does not contain OIDCIssuer (1.3.6.1.4.1.57264.1.1) extension")]
    NoIssuer,
    /// The two issuer extensions disagree.
    #[error(
        "Certificate's OIDCIssuer extensions disagree ('{v1}' in 1.3.6.1.4.1.57264.1.1, '{v2}' in 1.3.6.1.4.1.57264.1.8)"
    )]
    IssuersDisagree {
        /// The v1 extension's issuer.
        v1: String,
        /// The v2 extension's issuer.
        v2: String,
    },
    /// The OIDC issuer extension differs from `--identity_provider`.
    #[error("Certificate's OIDCIssuer does not match (got '{got}', expected '{expected}')")]
    IssuerMismatch {
        /// The issuer the certificate names.
        got: String,
        /// `--identity_provider`.
        expected: String,
    },
    /// No SAN equals `--identity`.
    #[error(
        "Certificate's SANs do not match {expected}; actual SANs: {{{}}}",
        quoted(actual)
    )]
    IdentityMismatch {
        /// `--identity`.
        expected: String,
        /// The certificate's email, URI and username SANs, sorted.
        actual: Vec<String>,
    },
    /// Several signers (or a regular expression), and none matches both the issuer and a SAN.
    #[error(
        "Certificate matches no trusted signer: its OIDC issuer is '{issuer}' and its SANs are {{{}}}; trusted: {}",
        quoted(sans),
        signer_list(expected)
    )]
    NoSignerMatches {
        /// The certificate's OIDC issuer.
        issuer: String,
        /// The certificate's email, URI and username SANs, sorted.
        sans: Vec<String>,
        /// The trusted signers, in order.
        expected: Vec<SignerIdentity>,
    },
}

fn signer_list(signers: &[SignerIdentity]) -> String {
    let list = signers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if signers.iter().any(|s| !s.is_exact()) {
        format!("{list} (a regexp must match the whole SAN or issuer, not a part of it)")
    } else {
        list
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn oid(s: &'static str) -> Result<Oid<'static>, LeafError> {
    s.parse::<Oid<'static>>()
        .map_err(|_| LeafError::BuiltInOid(s))
}

/// Checks the leaf's profile and the identity policy; returns the matched identity.
pub(crate) fn check_leaf(der: &[u8], policy: &IdentityPolicy) -> Result<String, LeafError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(LeafError::NotX509)?;
    if !rest.is_empty() {
        return Err(LeafError::TrailingBytes);
    }
    check_profile(&cert)?;
    let issuer = oidc_issuer(&cert)?;
    // Identity: any email, URI or Sigstore-username SAN.
    let sans = identity_sans(&cert)?;
    policy.admit(&issuer, &sans)
}

/// Exactly one SCT-list extension (the SCT itself is verified by the engine), then the leaf
/// profile: not a CA, KeyUsage digitalSignature, ExtendedKeyUsage codeSigning.
fn check_profile(cert: &X509Certificate<'_>) -> Result<(), LeafError> {
    let sct_oid = oid(OID_SCT_LIST)?;
    let sct_exts = cert
        .extensions()
        .iter()
        .filter(|e| e.oid == sct_oid)
        .count();
    if sct_exts == 0 {
        return Err(LeafError::NoSct);
    }
    if sct_exts > 1 {
        return Err(LeafError::TwoSctLists);
    }
    let bad = |extension| move |error| LeafError::BadExtension { extension, error };
    let basic = cert.basic_constraints().map_err(bad("basicConstraints"))?;
    if basic.is_some_and(|b| b.value.ca) {
        return Err(LeafError::IsCa);
    }
    let ku = cert.key_usage().map_err(bad("KeyUsage"))?;
    if !ku.is_some_and(|k| k.value.digital_signature()) {
        return Err(LeafError::NoDigitalSignature);
    }
    let eku = cert.extended_key_usage().map_err(bad("ExtendedKeyUsage"))?;
    let code_signing = oid(OID_CODE_SIGNING)?;
    let has_code_signing =
        eku.is_some_and(|e| e.value.code_signing || e.value.other.contains(&code_signing));
    if !has_code_signing {
        return Err(LeafError::NoCodeSigning);
    }
    Ok(())
}

/// The issuer: the v1 extension as Python reads it; the v2 extension, when present, must agree.
fn oidc_issuer(cert: &X509Certificate<'_>) -> Result<String, LeafError> {
    let v1 = oid(OID_ISSUER_V1)?;
    let v2 = oid(OID_ISSUER_V2)?;
    let mut issuer_v1: Option<String> = None;
    let mut issuer_v2: Option<String> = None;
    for ext in cert.extensions() {
        if ext.oid == v1 {
            if issuer_v1.is_some() {
                return Err(LeafError::TwoIssuersV1);
            }
            let s = std::str::from_utf8(ext.value).map_err(|_| LeafError::IssuerV1NotUtf8)?;
            issuer_v1 = Some(s.to_owned());
        } else if ext.oid == v2 {
            if issuer_v2.is_some() {
                return Err(LeafError::TwoIssuersV2);
            }
            let s = der_utf8_string(ext.value).ok_or(LeafError::IssuerV2NotUtf8String)?;
            issuer_v2 = Some(s);
        }
    }
    match (issuer_v1, issuer_v2) {
        (None, None) => Err(LeafError::NoIssuer),
        (Some(v1), Some(v2)) if v1 != v2 => Err(LeafError::IssuersDisagree { v1, v2 }),
        (v1, v2) => Ok(v1.or(v2).unwrap_or_default()),
    }
}

/// The email, URI and Sigstore-username SANs.
fn identity_sans(cert: &X509Certificate<'_>) -> Result<Vec<String>, LeafError> {
    let username = oid(OID_OTHERNAME_USERNAME)?;
    let mut sans: Vec<String> = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for name in &san.general_names {
                match name {
                    GeneralName::RFC822Name(s) | GeneralName::URI(s) => sans.push((*s).to_owned()),
                    GeneralName::OtherName(o, value) if *o == username => {
                        if let Some(s) = other_name_utf8(value) {
                            sans.push(s);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(sans)
}

/// Decodes a DER UTF8String (tag 12, definite length).
fn der_utf8_string(der: &[u8]) -> Option<String> {
    let (tag, body) = der_tlv(der)?;
    if tag != 0x0c {
        return None;
    }
    std::str::from_utf8(body).ok().map(str::to_owned)
}

/// An otherName value as x509-parser hands it over: `[0] EXPLICIT UTF8String`, or the bare string.
fn other_name_utf8(value: &[u8]) -> Option<String> {
    let (tag, body) = der_tlv(value)?;
    if tag == 0xa0 {
        der_utf8_string(body)
    } else {
        der_utf8_string(value)
    }
}

/// Splits one DER TLV that spans the whole input; returns (tag, contents).
fn der_tlv(der: &[u8]) -> Option<(u8, &[u8])> {
    match crate::der::der_read(der)? {
        (tag, contents, []) => Some((tag, contents)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sans(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn signers_are_pairs_never_a_cross_product() {
        let policy = IdentityPolicy::new(vec![
            SignerIdentity::exact("a@example.com", "https://x"),
            SignerIdentity::exact("b@example.com", "https://y"),
            SignerIdentity::regexp(r"https://github\.com/org/.*", r"https://token\.actions\..*"),
        ])
        .unwrap();
        let wf = "https://github.com/org/repo/.github/workflows/r.yml@refs/heads/main";
        for (issuer, certificate_sans, want) in [
            ("https://x", &["a@example.com"][..], Some("a@example.com")),
            ("https://y", &["b@example.com"][..], Some("b@example.com")),
            ("https://y", &["a@example.com"][..], None),
            ("https://x", &["b@example.com"][..], None),
            (
                "https://x",
                &["c@example.com", "a@example.com"][..],
                Some("a@example.com"),
            ),
            (
                "https://token.actions.githubusercontent.com",
                &[wf][..],
                Some(wf),
            ),
            (
                "https://token.actions.githubusercontent.com",
                &["a@example.com"][..],
                None,
            ),
            ("https://x", &[wf][..], None),
            ("https://x", &[][..], None),
        ] {
            let got = policy.admit(issuer, &sans(certificate_sans));
            assert_eq!(
                got.as_deref().ok(),
                want,
                "{certificate_sans:?} from {issuer}: {got:?}"
            );
        }
    }

    #[test]
    fn mismatch_messages() {
        // One exact signer: sigstore-python's messages, issuer first.
        let one = IdentityPolicy::exact("a@example.com", "https://x");
        assert_eq!(
            one.admit("https://y", &sans(&["a@example.com"]))
                .unwrap_err()
                .to_string(),
            "Certificate's OIDCIssuer does not match (got 'https://y', expected 'https://x')"
        );
        assert_eq!(
            one.admit("https://x", &sans(&["c", "b", "c"]))
                .unwrap_err()
                .to_string(),
            "Certificate's SANs do not match a@example.com; actual SANs: {'b', 'c'}"
        );
        // Otherwise the certificate's issuer and SANs and every trusted pair.
        let two = IdentityPolicy::new(vec![
            SignerIdentity::exact("a@example.com", "https://x"),
            SignerIdentity {
                identity: mv_shared::signer::Pattern::RegExp(".*@example\\.org".into()),
                issuer: mv_shared::signer::Pattern::Exact("https://y".into()),
            },
        ])
        .unwrap();
        assert_eq!(
            two.admit("https://y", &sans(&["a@example.com"]))
                .unwrap_err()
                .to_string(),
            "Certificate matches no trusted signer: its OIDC issuer is 'https://y' and its SANs \
             are {'a@example.com'}; trusted: identity 'a@example.com' from issuer 'https://x'; \
             identity regexp '.*@example\\.org' from issuer 'https://y' (a regexp must match the \
             whole SAN or issuer, not a part of it)"
        );
        let re = IdentityPolicy::new(vec![SignerIdentity::regexp("a", "b")]).unwrap();
        assert!(matches!(
            re.admit("b", &sans(&["ab"])),
            Err(LeafError::NoSignerMatches { .. })
        ));
        assert_eq!(IdentityPolicy::new(vec![]), Err(PolicyError::NoSigners));
        assert!(matches!(
            IdentityPolicy::new(vec![SignerIdentity::regexp("a(", "b")]),
            Err(PolicyError::Pattern(_))
        ));
    }

    #[test]
    fn der_utf8_string_decodes_exact_tlv_only() {
        assert_eq!(der_utf8_string(b"\x0c\x03abc").as_deref(), Some("abc"));
        assert_eq!(der_utf8_string(b"\x0c\x04abc"), None);
        assert_eq!(der_utf8_string(b"\x13\x03abc"), None);
        assert_eq!(
            other_name_utf8(b"\xa0\x05\x0c\x03abc").as_deref(),
            Some("abc")
        );
    }
}
