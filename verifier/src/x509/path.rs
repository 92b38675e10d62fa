//! Path building and validation: from the leaf through the bundle's intermediates (untrusted)
//! and the trusted certificates to a trusted self-signed certificate, then the checks OpenSSL runs
//! on a complete path (critical extensions, CA, pathLen, name constraints, validity times).

use std::collections::HashSet;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::x509::{X509Name, X509Version};

use super::error::most_specific;
use super::name::{is_self_issued, names_equal};
use super::name_constraints::check_name_constraints;
use super::signature::{check_signature, signature_algorithm_fits};
use super::{PathError, parse};

/// Longest path (leaf included) the builder explores.
const MAX_PATH_LEN: usize = 12;

/// Upper bound on signature checks per validation (cf. webpki's budget).
const MAX_SIGNATURE_CHECKS: usize = 200;

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
}
