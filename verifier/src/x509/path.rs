//! X.509 path validation and the `certificate` verification method (`model-signing-format.md`
//! §6.2).
//!
//! Owns what `model_signing` delegates to OpenSSL's `X509_verify_cert` with default settings:
//! - build a path from the leaf through the bundle's intermediates (untrusted) and the
//!   `--certificate_chain` certificates (trusted) to a **self-signed certificate in the trusted
//!   set**; issuers are matched by name and authority/subject key identifier, and every
//!   signature on the path is checked (ECDSA, Ed25519, RSA PKCS#1 v1.5 and PSS, via aws-lc-rs);
//! - everything must be valid at the validation time the caller gives (`model_signing` uses
//!   the leaf's `notBefore`, so an expired leaf still verifies);
//! - issuers must be CAs (basicConstraints CA:TRUE, keyUsage keyCertSign when present; the
//!   X.509 v1 root and keyUsage-only exceptions of OpenSSL), pathLenConstraint is honoured,
//!   and unknown critical extensions are rejected. The **leaf** is not required to be an end
//!   entity: the upstream test leaf is CA:TRUE, which OpenSSL (and therefore `model_signing`)
//!   accepts, while rustls-webpki refuses it;
//! - then the model_signing leaf rule: keyUsage digitalSignature, else EKU codeSigning.
//!
//! - name constraints as OpenSSL checks them (subject DN, emailAddress, subjectAltName DNS,
//!   email, URI, IP and directory names; host-like common names of a leaf without DNS SANs).
//!
//! Not implemented: certificate policies, which OpenSSL only enforces on request.
//! No file I/O and no clock: certificates and the validation time are inputs.

use std::collections::HashSet;
use std::sync::Arc;

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey};
use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{X509Name, X509Version};

use crate::bundle::{Bundle, BundleError, MEDIA_TYPE_V0_3};
use crate::keys::{self, EcPublicKey, KeyError, SigHash, der_read, pem_blocks};
use crate::method::{SignatureVerifier, VerifiedEnvelope};

/// Longest path (leaf included) the builder explores.
const MAX_PATH_LEN: usize = 12;
/// Upper bound on signature checks per validation (cf. webpki's budget).
const MAX_SIGNATURE_CHECKS: usize = 200;

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

fn most_specific(current: Option<PathError>, new: PathError) -> Option<PathError> {
    match current {
        Some(c) if c.rank() >= new.rank() => Some(c),
        _ => Some(new),
    }
}

/// A validated path, leaf first, ending at the trusted self-signed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPath {
    /// DER of each certificate on the path.
    pub certificates: Vec<Vec<u8>>,
}

struct Node<'a> {
    der: &'a [u8],
    cert: X509Certificate<'a>,
    trusted: bool,
}

/// The outer structure x509-parser does not police: `Certificate ::= SEQUENCE { tbs SEQUENCE,
/// signatureAlgorithm SEQUENCE, signatureValue BIT STRING }` with nothing after it, no unused
/// bits in the signature, and the outer algorithm equal to the TBS `signature` field (OpenSSL's
/// `X509_verify` refuses a mismatch). Without this, bytes outside the signed TBS could change
/// and the certificate would still verify.
fn check_outer_structure(der: &[u8]) -> Result<(), &'static str> {
    let (tag, cert, rest) = der_read(der).ok_or("malformed DER")?;
    if tag != 0x30 || !rest.is_empty() {
        return Err("not a DER SEQUENCE, or trailing data after the certificate");
    }
    let (tbs_tag, tbs, after_tbs) = der_read(cert).ok_or("malformed tbsCertificate")?;
    let alg_start = cert.len() - after_tbs.len();
    let (alg_tag, _, after_alg) = der_read(after_tbs).ok_or("malformed signatureAlgorithm")?;
    let outer_alg = &cert[alg_start..cert.len() - after_alg.len()];
    let (sig_tag, sig, end) = der_read(after_alg).ok_or("malformed signatureValue")?;
    if tbs_tag != 0x30 || alg_tag != 0x30 || sig_tag != 0x03 || !end.is_empty() {
        return Err("unexpected certificate structure");
    }
    if sig.first() != Some(&0) {
        return Err("signatureValue has unused bits");
    }
    // tbsCertificate: [0] version OPTIONAL, serialNumber INTEGER, signature AlgorithmIdentifier
    let (mut tag, _, mut rest) = der_read(tbs).ok_or("malformed tbsCertificate")?;
    if tag == 0xa0 {
        (tag, _, rest) = der_read(rest).ok_or("malformed tbsCertificate")?;
    }
    if tag != 0x02 {
        return Err("malformed serial number");
    }
    let (_, _, after) = der_read(rest).ok_or("malformed tbsCertificate signature")?;
    let inner_alg = &rest[..rest.len() - after.len()];
    if inner_alg != outer_alg {
        return Err("signatureAlgorithm differs from the tbsCertificate signature field");
    }
    Ok(())
}

fn parse<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, PathError> {
    check_outer_structure(der).map_err(|reason| PathError::Malformed {
        what: what.to_owned(),
        reason: reason.to_owned(),
    })?;
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(PathError::Malformed {
            what: what.to_owned(),
            reason: "trailing data after the certificate".to_owned(),
        }),
        Err(e) => Err(PathError::Malformed {
            what: what.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Validates `leaf` against the `trusted` certificates, with the bundle's `intermediates`
/// available for path building, at `time` (seconds since the Unix epoch).
pub fn verify_path(
    leaf: &[u8],
    intermediates: &[&[u8]],
    trusted: &[&[u8]],
    time: i64,
) -> Result<VerifiedPath, PathError> {
    let leaf = Node {
        der: leaf,
        cert: parse(leaf, "the signing certificate")?,
        trusted: false,
    };
    let mut pool = Vec::new();
    for (i, der) in trusted.iter().enumerate() {
        pool.push(Node {
            der,
            cert: parse(der, &format!("trusted certificate #{}", i + 1))?,
            trusted: true,
        });
    }
    for (i, der) in intermediates.iter().enumerate() {
        pool.push(Node {
            der,
            cert: parse(der, &format!("bundle certificate #{}", i + 2))?,
            trusted: false,
        });
    }
    let mut search = Search {
        leaf: &leaf,
        pool: &pool,
        time,
        signature_checks: 0,
    };
    let mut path = vec![PathItem::Leaf];
    let found = search.extend(&mut path)?;
    Ok(VerifiedPath {
        certificates: found
            .iter()
            .map(|item| search.node(*item).der.to_vec())
            .collect(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PathItem {
    Leaf,
    Pool(usize),
}

struct Search<'s, 'a> {
    leaf: &'s Node<'a>,
    pool: &'s [Node<'a>],
    time: i64,
    signature_checks: usize,
}

impl<'a> Search<'_, 'a> {
    fn node(&self, item: PathItem) -> &Node<'a> {
        match item {
            PathItem::Leaf => self.leaf,
            PathItem::Pool(i) => &self.pool[i],
        }
    }

    /// A certificate is trusted only if it *is* a trusted certificate: byte-equal DER. A bundle
    /// certificate that merely shares a trusted root's subject and key is not: its validity,
    /// pathLen, name constraints and key usage are the forger's choice, and anchoring the path
    /// at it would skip the real root's (issue 18). OpenSSL too replaces an untrusted top
    /// certificate only by an identical one from the store (`lookup_cert_match`).
    fn is_trusted(&self, node: &Node<'a>) -> bool {
        node.trusted || self.pool.iter().any(|t| t.trusted && t.der == node.der)
    }

    /// Extends `path` to a trusted self-signed certificate and validates it; returns the
    /// first path that validates, or the most specific error.
    fn extend(&mut self, path: &mut Vec<PathItem>) -> Result<Vec<PathItem>, PathError> {
        let Some(&last) = path.last() else {
            return Err(PathError::Budget);
        };
        let cur = self.node(last);
        if is_self_signed(&cur.cert) {
            if self.is_trusted(cur) {
                self.check_path(path)?;
                return Ok(path.clone());
            }
            let name = cur.cert.subject().to_string();
            return Err(if path.len() == 1 {
                PathError::SelfSignedLeaf(name)
            } else {
                PathError::SelfSignedInChain(name)
            });
        }
        if path.len() >= MAX_PATH_LEN {
            return Err(PathError::Budget);
        }
        let on_path: HashSet<&[u8]> = path.iter().map(|i| self.node(*i).der).collect();
        // Trusted candidates first, as OpenSSL looks in the store before the untrusted list.
        let candidates: Vec<usize> = (0..self.pool.len())
            .filter(|&i| {
                let issuer = &self.pool[i];
                !on_path.contains(issuer.der) && could_have_issued(&issuer.cert, &cur.cert)
            })
            .collect();
        if candidates.is_empty() {
            let subject = cur.cert.subject().to_string();
            let issuer = cur.cert.issuer().to_string();
            // A trusted leaf that is not self-signed is no anchor (OpenSSL has no partial chains).
            return Err(if path.len() > 1 && self.is_trusted(cur) {
                PathError::UnableToGetIssuer { subject, issuer }
            } else {
                PathError::UnableToGetLocalIssuer { subject, issuer }
            });
        }
        let mut best: Option<PathError> = None;
        for i in candidates {
            self.signature_checks += 1;
            if self.signature_checks > MAX_SIGNATURE_CHECKS {
                return Err(PathError::Budget);
            }
            let cur = self.node(last);
            if let Err(e) = check_signature(&cur.cert, &self.pool[i].cert) {
                best = most_specific(best, e);
                continue;
            }
            path.push(PathItem::Pool(i));
            let result = self.extend(path);
            path.pop();
            match result {
                Ok(found) => return Ok(found),
                Err(PathError::Budget) => return Err(PathError::Budget),
                Err(e) => best = most_specific(best, e),
            }
        }
        Err(best.unwrap_or(PathError::Budget))
    }

    /// The checks OpenSSL runs on a complete path, in its order: extensions (critical,
    /// CA, pathLen) from the leaf up, then validity times from the root down.
    fn check_path(&self, path: &[PathItem]) -> Result<(), PathError> {
        let certs: Vec<&X509Certificate<'a>> = path.iter().map(|i| &self.node(*i).cert).collect();
        let mut plen: u32 = 0;
        for (i, cert) in certs.iter().enumerate() {
            let subject = cert.subject().to_string();
            check_critical_extensions(cert)?;
            if i > 0 {
                check_ca(cert)?;
            }
            let bc = cert
                .basic_constraints()
                .map_err(|_| PathError::BadExtension(subject.clone()))?;
            if i > 1
                && let Some(path_len) = bc.and_then(|b| b.value.path_len_constraint)
                && plen > path_len
            {
                return Err(PathError::PathLengthExceeded { subject, path_len });
            }
            if i > 0 && !is_self_issued(cert) {
                plen += 1;
            }
        }
        check_name_constraints(&certs)?;
        for cert in certs.iter().rev() {
            let validity = cert.validity();
            let subject = || cert.subject().to_string();
            if validity.not_before.timestamp() > self.time {
                return Err(PathError::NotYetValid {
                    subject: subject(),
                    not_before: rfc3339(validity.not_before.timestamp()),
                    at: rfc3339(self.time),
                });
            }
            if validity.not_after.timestamp() < self.time {
                return Err(PathError::Expired {
                    subject: subject(),
                    not_after: rfc3339(validity.not_after.timestamp()),
                    at: rfc3339(self.time),
                });
            }
        }
        Ok(())
    }
}

/// UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// OpenSSL's name comparison: equal encodings, or equal after case folding and whitespace
/// collapsing of the string values.
fn names_equal(a: &X509Name<'_>, b: &X509Name<'_>) -> bool {
    a.as_raw() == b.as_raw() || canonical_name(a) == canonical_name(b)
}

fn canonical_name(name: &X509Name<'_>) -> Vec<Vec<(String, Vec<u8>)>> {
    name.iter_rdn()
        .map(|rdn| {
            let mut attrs: Vec<(String, Vec<u8>)> = rdn
                .iter()
                .map(|attr| {
                    let value = match attr.as_str() {
                        Ok(s) => s
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            .to_lowercase()
                            .into_bytes(),
                        Err(_) => attr.attr_value().data.to_vec(),
                    };
                    (attr.attr_type().to_id_string(), value)
                })
                .collect();
            attrs.sort();
            attrs
        })
        .collect()
}

fn extension_value<'c>(
    cert: &'c X509Certificate<'_>,
    oid: &str,
) -> Option<&'c ParsedExtension<'c>> {
    cert.extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)
        .map(|e| e.parsed_extension())
}

fn subject_key_id<'c>(cert: &'c X509Certificate<'_>) -> Option<&'c [u8]> {
    match extension_value(cert, "2.5.29.14") {
        Some(ParsedExtension::SubjectKeyIdentifier(k)) => Some(k.0),
        _ => None,
    }
}

/// `X509_check_akid(issuer, subject->akid)`: the subject's authority key identifier (key id
/// and serial number, when present) must match the issuer.
fn akid_matches(issuer: &X509Certificate<'_>, subject: &X509Certificate<'_>) -> bool {
    let Some(ParsedExtension::AuthorityKeyIdentifier(akid)) = extension_value(subject, "2.5.29.35")
    else {
        return true;
    };
    if let (Some(kid), Some(skid)) = (&akid.key_identifier, subject_key_id(issuer))
        && kid.0 != skid
    {
        return false;
    }
    if let Some(serial) = akid.authority_cert_serial
        && strip_leading_zeros(serial) != strip_leading_zeros(issuer.raw_serial())
    {
        return false;
    }
    true
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|x| **x == 0).count();
    &b[n..]
}

/// The key family of a public-key algorithm OID.
fn key_family(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => Some("rsa"),
        "1.2.840.10045.2.1" => Some("ec"),
        "1.3.101.112" => Some("ed25519"),
        "1.3.101.113" => Some("ed448"),
        _ => None,
    }
}

/// The key family a signature algorithm OID needs.
fn signature_family(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.10"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.113549.1.1.12"
        | "1.2.840.113549.1.1.13"
        | "1.2.840.113549.1.1.14" => Some("rsa"),
        "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.1"
        | "1.2.840.10045.4.3.2"
        | "1.2.840.10045.4.3.3"
        | "1.2.840.10045.4.3.4" => Some("ec"),
        "1.3.101.112" => Some("ed25519"),
        "1.3.101.113" => Some("ed448"),
        _ => None,
    }
}

/// OpenSSL's `check_sig_alg_match`: the issuer's key type fits the subject's signature
/// algorithm (unknown algorithms are left to the signature check).
fn signature_algorithm_fits(issuer: &X509Certificate<'_>, subject: &X509Certificate<'_>) -> bool {
    let key = key_family(&issuer.public_key().algorithm.algorithm.to_id_string());
    let sig = signature_family(&subject.signature_algorithm.algorithm.to_id_string());
    match (key, sig) {
        (Some(k), Some(s)) => k == s,
        _ => true,
    }
}

/// `X509_check_akid` plus the directory name of `authorityCertIssuer`, when present.
fn akid_issuer_matches(issuer: &X509Certificate<'_>, subject: &X509Certificate<'_>) -> bool {
    let Some(ParsedExtension::AuthorityKeyIdentifier(akid)) = extension_value(subject, "2.5.29.35")
    else {
        return true;
    };
    let Some(names) = &akid.authority_cert_issuer else {
        return true;
    };
    let dir_names: Vec<&X509Name<'_>> = names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DirectoryName(dn) => Some(dn),
            _ => None,
        })
        .collect();
    dir_names.is_empty() || dir_names.iter().any(|dn| names_equal(dn, issuer.issuer()))
}

/// `x509_likely_issued`: names, authority key identifier, key type vs signature algorithm.
fn could_have_issued(issuer: &X509Certificate<'_>, subject: &X509Certificate<'_>) -> bool {
    names_equal(issuer.subject(), subject.issuer())
        && akid_matches(issuer, subject)
        && akid_issuer_matches(issuer, subject)
        && signature_algorithm_fits(issuer, subject)
}

/// Self-issued (EXFLAG_SI): subject name == issuer name. Such intermediates do not count
/// towards pathLenConstraint.
fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    names_equal(cert.subject(), cert.issuer())
}

/// Self-signed as OpenSSL decides it (EXFLAG_SS): self-issued, the AKID does not point to
/// another key, and the key fits the signature algorithm. OpenSSL does not check the
/// self-signature of a trust anchor by default, and neither do we.
fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    could_have_issued(cert, cert)
}

/// OpenSSL's `check_ca` for issuers (non-strict mode).
fn check_ca(cert: &X509Certificate<'_>) -> Result<(), PathError> {
    let subject = || cert.subject().to_string();
    let bad = || PathError::BadExtension(subject());
    let ku = cert.key_usage().map_err(|_| bad())?;
    if let Some(ku) = &ku
        && !ku.value.key_cert_sign()
    {
        return Err(PathError::InvalidCa {
            subject: subject(),
            reason: "has keyUsage without keyCertSign",
        });
    }
    match cert.basic_constraints().map_err(|_| bad())? {
        Some(bc) if bc.value.ca => Ok(()),
        Some(_) => Err(PathError::InvalidCa {
            subject: subject(),
            reason: "has basicConstraints CA:FALSE",
        }),
        None => {
            let v1_root = cert.version() == X509Version::V1 && is_self_signed(cert);
            let ns_ca = matches!(
                extension_value(cert, "2.16.840.1.113730.1.1"),
                Some(ParsedExtension::NSCertType(t)) if t.ssl_ca() || t.smime_ca() || t.object_signing_ca()
            );
            if v1_root || ku.is_some() || ns_ca {
                Ok(())
            } else {
                Err(PathError::InvalidCa {
                    subject: subject(),
                    reason: "has no basicConstraints extension",
                })
            }
        }
    }
}

/// The extensions OpenSSL's `X509_supported_extension` handles (plus the key identifiers).
const HANDLED_CRITICAL: [&str; 17] = [
    "2.16.840.1.113730.1.1", // netscape cert type
    "2.5.29.15",             // key usage
    "2.5.29.17",             // subject alt name
    "2.5.29.19",             // basic constraints
    "2.5.29.32",             // certificate policies
    "2.5.29.31",             // CRL distribution points
    "2.5.29.37",             // extended key usage
    "1.3.6.1.5.5.7.1.7",     // IP address blocks
    "1.3.6.1.5.5.7.1.8",     // AS identifiers
    "1.3.6.1.5.5.7.48.1.5",  // OCSP no check
    "2.5.29.36",             // policy constraints
    "1.3.6.1.5.5.7.1.14",    // proxy certificate info
    "2.5.29.30",             // name constraints
    "2.5.29.33",             // policy mappings
    "2.5.29.54",             // inhibit any policy
    "2.5.29.14",             // subject key identifier
    "2.5.29.35",             // authority key identifier
];

fn check_critical_extensions(cert: &X509Certificate<'_>) -> Result<(), PathError> {
    let mut seen = HashSet::new();
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if !seen.insert(oid.clone()) {
            return Err(PathError::BadExtension(cert.subject().to_string()));
        }
        if ext.critical && !HANDLED_CRITICAL.contains(&oid.as_str()) {
            return Err(PathError::UnhandledCriticalExtension {
                subject: cert.subject().to_string(),
                oid,
            });
        }
    }
    Ok(())
}

/// Checks `cert`'s signature with `issuer`'s public key.
fn check_signature(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<(), PathError> {
    let alg = cert.signature_algorithm.algorithm.to_id_string();
    let tbs = cert.tbs_certificate.as_ref();
    let signature: &[u8] = &cert.signature_value.data;
    let spki = issuer.public_key();
    let key_alg = spki.algorithm.algorithm.to_id_string();
    let unsupported = || PathError::UnsupportedSignatureAlgorithm {
        subject: cert.subject().to_string(),
        algorithm: alg.clone(),
    };
    let bad = || PathError::BadSignature {
        subject: cert.subject().to_string(),
        issuer: issuer.subject().to_string(),
    };
    let rsa_key: &[u8] = &spki.subject_public_key.data;
    let ok = match alg.as_str() {
        // sha256/384/512WithRSAEncryption (SHA-1 is refused, as OpenSSL 3 at security level 1).
        "1.2.840.113549.1.1.11" | "1.2.840.113549.1.1.12" | "1.2.840.113549.1.1.13" => {
            if key_alg != "1.2.840.113549.1.1.1" {
                return Err(bad());
            }
            let params: &'static sig::RsaParameters = match alg.as_str() {
                "1.2.840.113549.1.1.11" => &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                "1.2.840.113549.1.1.12" => &sig::RSA_PKCS1_2048_8192_SHA384,
                _ => &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
            };
            UnparsedPublicKey::new(params, rsa_key)
                .verify(tbs, signature)
                .is_ok()
        }
        // RSASSA-PSS with SHA-256/384/512 (MGF1 with the same hash, salt = hash length).
        "1.2.840.113549.1.1.10" => {
            let params = cert
                .signature_algorithm
                .parameters
                .as_ref()
                .and_then(|p| RsaSsaPssParams::try_from(p).ok())
                .ok_or_else(unsupported)?;
            let hash = params.hash_algorithm_oid().to_id_string();
            let mgf_hash = params
                .mask_gen_algorithm()
                .map(|m| m.hash.to_id_string())
                .map_err(|_| unsupported())?;
            let (alg_params, salt): (&'static sig::RsaParameters, u32) = match hash.as_str() {
                "2.16.840.1.101.3.4.2.1" => (&sig::RSA_PSS_2048_8192_SHA256, 32),
                "2.16.840.1.101.3.4.2.2" => (&sig::RSA_PSS_2048_8192_SHA384, 48),
                "2.16.840.1.101.3.4.2.3" => (&sig::RSA_PSS_2048_8192_SHA512, 64),
                _ => return Err(unsupported()),
            };
            if mgf_hash != hash || params.salt_length() != salt {
                return Err(unsupported());
            }
            UnparsedPublicKey::new(alg_params, rsa_key)
                .verify(tbs, signature)
                .is_ok()
        }
        // ecdsa-with-SHA256/384/512.
        "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" | "1.2.840.10045.4.3.4" => {
            let hash = match alg.as_str() {
                "1.2.840.10045.4.3.2" => SigHash::Sha256,
                "1.2.840.10045.4.3.3" => SigHash::Sha384,
                _ => SigHash::Sha512,
            };
            match EcPublicKey::from_spki(spki) {
                Ok(key) => key.verify(hash, tbs, signature),
                Err(_) => return Err(bad()),
            }
        }
        // Ed25519.
        "1.3.101.112" => {
            if key_alg != "1.3.101.112" {
                return Err(bad());
            }
            UnparsedPublicKey::new(&sig::ED25519, rsa_key)
                .verify(tbs, signature)
                .is_ok()
        }
        _ => return Err(unsupported()),
    };
    if ok { Ok(()) } else { Err(bad()) }
}

/// A name subject to name constraints.
enum ConstrainedName<'c> {
    Dns(String),
    Email(String),
    Uri(String),
    Ip(Vec<u8>),
    Dir(&'c X509Name<'c>),
}

impl ConstrainedName<'_> {
    fn kind(&self) -> u8 {
        match self {
            Self::Dns(_) => 0,
            Self::Email(_) => 1,
            Self::Uri(_) => 2,
            Self::Ip(_) => 3,
            Self::Dir(_) => 4,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Dns(d) => format!("DNS:{d}"),
            Self::Email(e) => format!("email:{e}"),
            Self::Uri(u) => format!("URI:{u}"),
            Self::Ip(ip) => format!("IP:{}", hex::encode(ip)),
            Self::Dir(n) => format!("DirName:{n}"),
        }
    }
}

/// The same kind of name from a constraint's base (`None` for kinds OpenSSL ignores here).
fn subtree_base<'c>(base: &'c GeneralName<'c>) -> Option<ConstrainedName<'c>> {
    Some(match base {
        GeneralName::DNSName(d) => ConstrainedName::Dns((*d).to_owned()),
        GeneralName::RFC822Name(e) => ConstrainedName::Email((*e).to_owned()),
        GeneralName::URI(u) => ConstrainedName::Uri((*u).to_owned()),
        GeneralName::IPAddress(ip) => ConstrainedName::Ip(ip.to_vec()),
        GeneralName::DirectoryName(n) => ConstrainedName::Dir(n),
        _ => return None,
    })
}

const OID_EMAIL_ADDRESS: &str = "1.2.840.113549.1.9.1";
const OID_COMMON_NAME: &str = "2.5.4.3";

/// The names OpenSSL's `NAME_CONSTRAINTS_check` looks at: the subject DN, its emailAddress
/// attributes and the subjectAltName entries; for the leaf without DNS SANs, also common
/// names that look like host names (`NAME_CONSTRAINTS_check_CN`).
fn constrained_names<'c>(
    cert: &'c X509Certificate<'c>,
    leaf: bool,
) -> Result<Vec<ConstrainedName<'c>>, PathError> {
    let mut names = Vec::new();
    if cert.subject().iter_rdn().next().is_some() {
        names.push(ConstrainedName::Dir(cert.subject()));
    }
    let mut common_names = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            if let Ok(v) = attr.as_str() {
                if oid == OID_EMAIL_ADDRESS {
                    names.push(ConstrainedName::Email(v.to_owned()));
                } else if oid == OID_COMMON_NAME {
                    common_names.push(v.to_owned());
                }
            }
        }
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|_| PathError::BadExtension(cert.subject().to_string()))?;
    let mut has_dns = false;
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(d) => {
                has_dns = true;
                names.push(ConstrainedName::Dns((*d).to_owned()));
            }
            GeneralName::RFC822Name(e) => names.push(ConstrainedName::Email((*e).to_owned())),
            GeneralName::URI(u) => names.push(ConstrainedName::Uri((*u).to_owned())),
            GeneralName::IPAddress(ip) => names.push(ConstrainedName::Ip(ip.to_vec())),
            GeneralName::DirectoryName(n) => names.push(ConstrainedName::Dir(n)),
            _ => {}
        }
    }
    if leaf && !has_dns {
        names.extend(
            common_names
                .into_iter()
                .filter(|cn| looks_like_host_name(cn))
                .map(ConstrainedName::Dns),
        );
    }
    Ok(names)
}

/// OpenSSL's `cn2dnsid` test: letters, digits, `-` and `.`, at least one inner dot, labels
/// neither empty nor starting or ending with `-`.
fn looks_like_host_name(cn: &str) -> bool {
    let cn = cn.strip_suffix('.').unwrap_or(cn);
    cn.contains('.')
        && cn.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether `name` lies in the subtree `base` (same kind), OpenSSL's `nc_match_single`.
fn in_subtree(name: &ConstrainedName<'_>, base: &ConstrainedName<'_>) -> Result<bool, ()> {
    Ok(match (name, base) {
        (ConstrainedName::Dns(dns), ConstrainedName::Dns(base)) => {
            if base.is_empty() {
                return Ok(true);
            }
            let (d, b) = (dns.to_ascii_lowercase(), base.to_ascii_lowercase());
            d == b
                || (d.ends_with(&b)
                    && (b.starts_with('.') || d[..d.len() - b.len()].ends_with('.')))
        }
        (ConstrainedName::Email(email), ConstrainedName::Email(base)) => {
            let (local, domain) = email.rsplit_once('@').ok_or(())?;
            if base.starts_with('.') {
                let (d, b) = (domain.to_ascii_lowercase(), base.to_ascii_lowercase());
                email.len() > base.len() && d.ends_with(&b)
            } else if let Some((base_local, base_domain)) = base.rsplit_once('@') {
                (base_local.is_empty() || base_local == local)
                    && base_domain.eq_ignore_ascii_case(domain)
            } else {
                base.eq_ignore_ascii_case(domain)
            }
        }
        (ConstrainedName::Uri(uri), ConstrainedName::Uri(base)) => {
            let host = uri
                .split_once("://")
                .map(|(_, rest)| rest.split(['/', ':', '?', '#']).next().unwrap_or(""))
                .filter(|h| !h.is_empty())
                .ok_or(())?;
            let (h, b) = (host.to_ascii_lowercase(), base.to_ascii_lowercase());
            if b.starts_with('.') {
                h.len() > b.len() && h.ends_with(&b)
            } else {
                h == b
            }
        }
        (ConstrainedName::Ip(ip), ConstrainedName::Ip(base)) => {
            if base.len() != 2 * ip.len() {
                return Ok(false);
            }
            let (addr, mask) = base.split_at(ip.len());
            ip.iter()
                .zip(addr)
                .zip(mask)
                .all(|((i, a), m)| i & m == a & m)
        }
        (ConstrainedName::Dir(name), ConstrainedName::Dir(base)) => {
            let (n, b) = (canonical_name(name), canonical_name(base));
            n.len() >= b.len() && n[..b.len()] == b[..]
        }
        _ => false,
    })
}

/// OpenSSL's `check_name_constraints`: every certificate's names (self-issued intermediates
/// excepted) against the constraints of every CA above it.
fn check_name_constraints(certs: &[&X509Certificate<'_>]) -> Result<(), PathError> {
    for (i, cert) in certs.iter().enumerate() {
        if i > 0 && is_self_issued(cert) {
            continue;
        }
        let names = constrained_names(cert, i == 0)?;
        for ca in &certs[i + 1..] {
            let nc = ca
                .name_constraints()
                .map_err(|_| PathError::BadExtension(ca.subject().to_string()))?;
            let Some(nc) = nc else { continue };
            let permitted: Vec<ConstrainedName<'_>> = nc
                .value
                .permitted_subtrees
                .iter()
                .flatten()
                .filter_map(|t| subtree_base(&t.base))
                .collect();
            let excluded: Vec<ConstrainedName<'_>> = nc
                .value
                .excluded_subtrees
                .iter()
                .flatten()
                .filter_map(|t| subtree_base(&t.base))
                .collect();
            for name in &names {
                let unsupported = || PathError::UnsupportedNameSyntax {
                    subject: cert.subject().to_string(),
                    name: name.describe(),
                };
                let same_kind: Vec<&ConstrainedName<'_>> = permitted
                    .iter()
                    .filter(|b| b.kind() == name.kind())
                    .collect();
                if !same_kind.is_empty() {
                    let mut ok = false;
                    for base in same_kind {
                        if in_subtree(name, base).map_err(|()| unsupported())? {
                            ok = true;
                            break;
                        }
                    }
                    if !ok {
                        return Err(PathError::PermittedSubtreeViolation {
                            subject: cert.subject().to_string(),
                            name: name.describe(),
                            ca: ca.subject().to_string(),
                        });
                    }
                }
                for base in excluded.iter().filter(|b| b.kind() == name.kind()) {
                    if in_subtree(name, base).map_err(|()| unsupported())? {
                        return Err(PathError::ExcludedSubtreeViolation {
                            subject: cert.subject().to_string(),
                            name: name.describe(),
                            ca: ca.subject().to_string(),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// `sha256 Fingerprint: AA:BB:...` of a DER certificate (`--log_fingerprints`).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("sha256 Fingerprint: {}", hex.join(":"))
}

/// Why the certificate method rejected a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateVerifyError {
    /// The bundle did not parse, or has the wrong media type.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// No `x509CertificateChain` (Python: `'NoneType' object has no attribute 'certificates'`).
    #[error(
        "the signature was not made with a certificate: its verification material has no `x509CertificateChain` (it holds {0}); use the matching verification method"
    )]
    NoCertificateChain(&'static str),
    /// An empty `x509CertificateChain` (Python: `list index out of range`).
    #[error("the signature's certificate chain is empty: there is no signing certificate")]
    EmptyChain,
    /// Path building or validation failed.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The leaf's extensions are not DER (Python's `cryptography` refuses to parse them).
    #[error(
        "error parsing asn1 value: the basicConstraints of the signing certificate `{0}` encodes the DEFAULT value cA FALSE, which DER forbids"
    )]
    LeafNotDer(String),
    /// The leaf may not sign (model_signing's own rule).
    #[error("Signing certificate cannot be used for signing")]
    CannotSign,
    /// The leaf's key cannot check an ECDSA signature (Python crashes on `.curve`).
    #[error("the signing certificate's public key cannot verify the signature: {0}")]
    LeafKey(KeyError),
    /// No DSSE envelope.
    #[error(
        "the signature has no DSSE envelope (it holds a `messageSignature`), which model signatures never use"
    )]
    NoEnvelope,
    /// An envelope without signatures.
    #[error("the signature's DSSE envelope contains no signatures")]
    NoSignatures,
    /// The ECDSA check failed (Python prints an empty message).
    #[error(
        "Invalid signature: the DSSE signature does not verify with the signing certificate's {0} key (neither over the DSSE PAE nor over the v0.2 compat PAE)"
    )]
    InvalidSignature(&'static str),
}

/// Where `--log_fingerprints` lines go (the CLI prints them to stderr).
pub type FingerprintSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The `certificate` method: the bundle's leaf must chain to a trusted self-signed
/// certificate, then its EC key checks the DSSE signature.
#[derive(Clone)]
pub struct CertificateVerifier {
    trusted: Vec<Vec<u8>>,
    fingerprints: Option<FingerprintSink>,
}

impl std::fmt::Debug for CertificateVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateVerifier")
            .field("trusted", &self.trusted.len())
            .field("log_fingerprints", &self.fingerprints.is_some())
            .finish()
    }
}

/// Why the trusted certificates could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// No `CERTIFICATE` block in the PEM text.
    #[error(
        "Unable to load PEM file: no -----BEGIN CERTIFICATE----- block in the certificate chain file(s)"
    )]
    NoCertificates,
    /// A PEM block is malformed.
    #[error(
        "Unable to load PEM file: a -----BEGIN ...----- block in the certificate chain file(s) is malformed (no matching END line, or invalid base64)"
    )]
    MalformedPem,
    /// A certificate does not parse.
    #[error(transparent)]
    Malformed(#[from] PathError),
}

impl CertificateVerifier {
    /// Trusts every certificate of the concatenated `--certificate_chain` PEM files (all
    /// `CERTIFICATE` blocks, text around them skipped). At least one is required.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TrustError> {
        let ders = certificates_from_pem_strict(pem).map_err(|_| TrustError::MalformedPem)?;
        if ders.is_empty() {
            return Err(TrustError::NoCertificates);
        }
        Self::new(ders)
    }

    /// Trusts the given DER certificates (each must parse).
    pub fn new(trusted: Vec<Vec<u8>>) -> Result<Self, TrustError> {
        for (i, der) in trusted.iter().enumerate() {
            parse(der, &format!("trusted certificate #{}", i + 1))?;
        }
        Ok(Self {
            trusted,
            fingerprints: None,
        })
    }

    /// Trusts the parseable certificates of a system CA bundle; unparseable ones are skipped.
    /// `model_signing` trusts certifi's Mozilla bundle when no `--certificate_chain` is given.
    pub fn from_system_bundle(pem: &[u8]) -> Self {
        let trusted = certificates_from_pem(pem)
            .into_iter()
            .filter(|der| parse(der, "system certificate").is_ok())
            .collect();
        Self {
            trusted,
            fingerprints: None,
        }
    }

    /// Sends `[  init  ] ...` lines for the trusted certificates now, and `[ verify ] ...`
    /// lines for the bundle's certificates during verification, to `sink`.
    pub fn log_fingerprints(mut self, sink: FingerprintSink) -> Self {
        for der in &self.trusted {
            sink(&format!("[  init  ] {}", fingerprint(der)));
        }
        self.fingerprints = Some(sink);
        self
    }

    /// The number of trusted certificates.
    pub fn trusted_len(&self) -> usize {
        self.trusted.len()
    }

    /// The §6.2 steps 2–4 on a bundle's certificates: path at the leaf's notBefore, then the
    /// signing capability. Returns the leaf's EC key and subject.
    pub fn verify_certificates(
        &self,
        chain: &[Vec<u8>],
    ) -> Result<(EcPublicKey, String), CertificateVerifyError> {
        let (leaf_der, rest) = chain
            .split_first()
            .ok_or(CertificateVerifyError::EmptyChain)?;
        let leaf = parse(leaf_der, "the signing certificate")?;
        if let Some(sink) = &self.fingerprints {
            for der in rest.iter().chain(std::iter::once(leaf_der)) {
                sink(&format!("[ verify ] {}", fingerprint(der)));
            }
        }
        let time = leaf.validity().not_before.timestamp();
        let intermediates: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
        let trusted: Vec<&[u8]> = self.trusted.iter().map(Vec::as_slice).collect();
        verify_path(leaf_der, &intermediates, &trusted, time)?;
        check_signing_capability(&leaf)?;
        let key =
            EcPublicKey::from_spki(leaf.public_key()).map_err(CertificateVerifyError::LeafKey)?;
        Ok((key, leaf.subject().to_string()))
    }
}

/// The DER of every `CERTIFICATE` (or `X509 CERTIFICATE`) block of a PEM text.
pub fn certificates_from_pem(pem: &[u8]) -> Vec<Vec<u8>> {
    only_certificates(pem_blocks(pem))
}

fn only_certificates(blocks: Vec<keys::PemBlock>) -> Vec<Vec<u8>> {
    blocks
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE")
        .map(|b| b.der)
        .collect()
}

/// Like [`certificates_from_pem`], but any malformed PEM block is an error, as
/// `cryptography`'s `load_pem_x509_certificates` makes it.
pub fn certificates_from_pem_strict(pem: &[u8]) -> Result<Vec<Vec<u8>>, KeyError> {
    Ok(only_certificates(keys::pem_blocks_strict(pem)?))
}

/// §6.2 step 4: keyUsage digitalSignature, else EKU codeSigning.
fn check_signing_capability(leaf: &X509Certificate<'_>) -> Result<(), CertificateVerifyError> {
    let bad = || CertificateVerifyError::Path(PathError::BadExtension(leaf.subject().to_string()));
    // `cryptography` parses the leaf's extensions as strict DER and rejects a basicConstraints
    // that encodes the DEFAULT `cA FALSE` (`ParseError { kind: EncodedDefault }`).
    if leaf.extensions().iter().any(|e| {
        e.oid.to_id_string() == "2.5.29.19" && e.value.get(2..5) == Some(&[0x01, 0x01, 0x00][..])
    }) {
        return Err(CertificateVerifyError::LeafNotDer(
            leaf.subject().to_string(),
        ));
    }
    match leaf.key_usage().map_err(|_| bad())? {
        Some(ku) if ku.value.digital_signature() => return Ok(()),
        Some(_) => {}
        None => tracing::warn!("Certificate does not specify 'KeyUsage'."),
    }
    match leaf.extended_key_usage().map_err(|_| bad())? {
        Some(eku) if eku.value.code_signing => Ok(()),
        Some(_) => Err(CertificateVerifyError::CannotSign),
        None => {
            tracing::warn!("Certificate does not specify 'ExtendedKeyUsage'.");
            Err(CertificateVerifyError::CannotSign)
        }
    }
}

impl SignatureVerifier for CertificateVerifier {
    type Error = CertificateVerifyError;

    fn method(&self) -> &'static str {
        "certificate"
    }

    fn verify_bundle(
        &self,
        bundle_json: &[u8],
    ) -> Result<VerifiedEnvelope, CertificateVerifyError> {
        // (1) parse with the key/certificate pre-processing, then the media type (§5.1).
        let bundle = Bundle::from_json_key_or_certificate(bundle_json)?;
        bundle.require_media_type(MEDIA_TYPE_V0_3)?;
        // (2)-(4) the chain and the leaf's signing capability.
        let chain = bundle
            .verification_material
            .x509_certificate_chain
            .as_ref()
            .ok_or_else(|| {
                CertificateVerifyError::NoCertificateChain(keys::material_kind(&bundle))
            })?;
        let ders: Vec<Vec<u8>> = chain
            .certificates
            .iter()
            .map(|c| c.raw_bytes.0.clone())
            .collect();
        let (key, subject) = self.verify_certificates(&ders)?;
        // (5) signatures[0]: curve hash over the PAE, else SHA-256 over the compat PAE.
        let envelope = bundle
            .dsse_envelope
            .as_ref()
            .ok_or(CertificateVerifyError::NoEnvelope)?;
        let signature = envelope
            .signatures
            .first()
            .ok_or(CertificateVerifyError::NoSignatures)?;
        if !key.verify_dsse(
            &envelope.payload,
            &signature.sig,
            key.curve().hash(),
            SigHash::Sha256,
        ) {
            return Err(CertificateVerifyError::InvalidSignature(key.curve().name()));
        }
        // Move the payload out instead of copying it (a large model's statement is MiBs).
        let payload_type = envelope.payload_type.clone();
        let payload = bundle
            .dsse_envelope
            .map(|e| e.payload.0)
            .unwrap_or_default();
        Ok(VerifiedEnvelope {
            payload_type,
            payload,
            signer: subject,
            warnings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_746_234_602), "2025-05-03T01:10:02Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn fingerprints_are_upper_case_and_colon_separated() {
        let fp = fingerprint(b"");
        assert!(fp.starts_with("sha256 Fingerprint: E3:B0:C4:42:"), "{fp}");
        assert_eq!(fp.len(), "sha256 Fingerprint: ".len() + 32 * 3 - 1);
    }

    #[test]
    fn no_certificate_blocks_is_an_error() {
        assert!(matches!(
            CertificateVerifier::from_pem(
                b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
            ),
            Err(TrustError::NoCertificates)
        ));
        let junk = keys::python_pem("CERTIFICATE", &[0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(matches!(
            CertificateVerifier::from_pem(junk.as_bytes()),
            Err(TrustError::Malformed(PathError::Malformed { .. }))
        ));
    }
}
