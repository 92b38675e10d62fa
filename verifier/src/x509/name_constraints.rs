//! Name constraints as OpenSSL's `check_name_constraints` applies them: the subject DN, its
//! emailAddress attributes, the subjectAltName DNS, email, URI, IP and directory names, and the
//! host-like common names of a leaf without DNS SANs.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, GeneralSubtree};
use x509_parser::x509::X509Name;

use super::PathError;
use super::name::{canonical_name, is_self_issued};

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

/// The bases of a list of subtrees, of the kinds OpenSSL checks.
fn subtree_bases<'c>(subtrees: Option<&'c [GeneralSubtree<'c>]>) -> Vec<ConstrainedName<'c>> {
    subtrees
        .into_iter()
        .flatten()
        .filter_map(|t| subtree_base(&t.base))
        .collect()
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
pub(super) fn check_name_constraints(certs: &[&X509Certificate<'_>]) -> Result<(), PathError> {
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
            let permitted = subtree_bases(nc.value.permitted_subtrees.as_deref());
            let excluded = subtree_bases(nc.value.excluded_subtrees.as_deref());
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
