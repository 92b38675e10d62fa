//! PEM text (RFC 7468): the blocks of a text, as OpenSSL and `cryptography` find them, and PEM
//! as `cryptography` writes it.
//!
//! Owns PEM framing only: text before `-----BEGIN` is skipped (certtool output needs it), RFC 1421
//! headers are kept apart from the body. What a block holds (a key, certificates) is decided by
//! the callers. No file I/O: callers pass bytes.

use base64::Engine as _;

use crate::keys::KeyError;

/// One PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PemBlock {
    /// The label between `-----BEGIN ` and `-----`, e.g. `PUBLIC KEY`.
    pub label: String,
    /// RFC 1421 headers (`Proc-Type`, `DEK-Info`), if any.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub der: Vec<u8>,
}

/// All well-formed PEM blocks of `text`, in order. Text outside the blocks (certtool's
/// human-readable dump, comments) is skipped, as OpenSSL and `cryptography` do. Malformed
/// blocks (no matching END line, bad base64) are skipped; see [`pem_blocks_strict`].
pub(crate) fn pem_blocks(text: &[u8]) -> Vec<PemBlock> {
    scan_pem(text).into_iter().flatten().collect()
}

/// Like [`pem_blocks`], but a malformed block (a BEGIN without its END, bad base64) is an
/// error, as `cryptography`'s PEM parser makes it.
pub(crate) fn pem_blocks_strict(text: &[u8]) -> Result<Vec<PemBlock>, KeyError> {
    scan_pem(text)
        .into_iter()
        .map(|b| b.ok_or(KeyError::MalformedPem))
        .collect()
}

/// Every `-----BEGIN ` in order: the decoded block, or `None` when it is malformed.
pub(crate) fn scan_pem(text: &[u8]) -> Vec<Option<PemBlock>> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            out.push(None);
            break;
        };
        let label = &after[..label_end];
        let body_and_rest = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_and_rest.find(&end_marker) else {
            // No END for this label. Followed by another END, it is a mismatched block (an
            // error for `cryptography`); otherwise it is trailing text, which is ignored.
            if body_and_rest.contains("-----END ") {
                out.push(None);
            }
            rest = after;
            continue;
        };
        out.push(decode_pem_body(label, &body_and_rest[..body_end]));
        rest = &body_and_rest[body_end + end_marker.len()..];
    }
    out
}

fn decode_pem_body(label: &str, body: &str) -> Option<PemBlock> {
    if label.contains('\n') || label.is_empty() {
        return None;
    }
    let mut headers = Vec::new();
    let mut b64 = String::new();
    let mut in_headers = true;
    for line in body.lines() {
        let line = line.trim();
        if in_headers {
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
                continue;
            }
            if line.is_empty() {
                continue;
            }
            in_headers = false;
        }
        b64.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some(PemBlock {
        label: label.to_owned(),
        headers,
        der,
    })
}

/// PEM text as Python's `cryptography` writes it: 64-character lines, LF, trailing LF.
pub fn python_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER of every `CERTIFICATE` (or `X509 CERTIFICATE`) block of a PEM text.
pub fn certificates_from_pem(pem: &[u8]) -> Vec<Vec<u8>> {
    only_certificates(pem_blocks(pem))
}

fn only_certificates(blocks: Vec<PemBlock>) -> Vec<Vec<u8>> {
    blocks
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE")
        .map(|b| b.der)
        .collect()
}

/// Like [`certificates_from_pem`], but any malformed PEM block is an error, as
/// `cryptography`'s `load_pem_x509_certificates` makes it.
pub fn certificates_from_pem_strict(pem: &[u8]) -> Result<Vec<Vec<u8>>, KeyError> {
    Ok(only_certificates(pem_blocks_strict(pem)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_skip_text_before_begin() {
        let text = b"Public Key Information:\n\tPublic Key Algorithm: EC/ECDSA\n-----BEGIN PUBLIC KEY-----\nAAEC\nAw==\n-----END PUBLIC KEY-----\ntrailer\n-----BEGIN X-----\nBAU=\n-----END X-----\n";
        let blocks = pem_blocks(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "PUBLIC KEY");
        assert_eq!(blocks[0].der, vec![0, 1, 2, 3]);
        assert_eq!(blocks[1].label, "X");
        assert_eq!(blocks[1].der, vec![4, 5]);
        assert!(pem_blocks(b"garbage").is_empty());
        assert!(pem_blocks(b"-----BEGIN A-----\nAAAA\n-----END B-----\n").is_empty());
    }

    #[test]
    fn pem_headers_are_kept_apart_from_the_body() {
        let text = b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAEC\n-----END EC PRIVATE KEY-----\n";
        let block = &pem_blocks(text)[0];
        assert_eq!(
            block.headers[0],
            ("Proc-Type".to_owned(), "4,ENCRYPTED".to_owned())
        );
        assert_eq!(block.der, vec![0, 1, 2]);
    }

    #[test]
    fn python_pem_wraps_at_64_columns() {
        let pem = python_pem("PUBLIC KEY", &[0u8; 91]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 124 - 64);
        assert_eq!(lines[3], "-----END PUBLIC KEY-----");
        assert!(pem.ends_with("-----\n"));
    }
}
