//! X.509 names compared as OpenSSL compares them.

use x509_parser::certificate::X509Certificate;
use x509_parser::x509::X509Name;

/// OpenSSL's name comparison: equal encodings, or equal after case folding and whitespace
/// collapsing of the string values.
pub(super) fn names_equal(a: &X509Name<'_>, b: &X509Name<'_>) -> bool {
    a.as_raw() == b.as_raw() || canonical_name(a) == canonical_name(b)
}

pub(super) fn canonical_name(name: &X509Name<'_>) -> Vec<Vec<(String, Vec<u8>)>> {
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

/// Self-issued (EXFLAG_SI): subject name == issuer name. Such intermediates do not count
/// towards pathLenConstraint.
pub(super) fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    names_equal(cert.subject(), cert.issuer())
}
