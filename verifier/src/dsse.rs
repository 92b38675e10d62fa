//! DSSE pre-authentication encoding (PAE), including the v0.2.0 compat encoding.
//!
//! Owns the bytes a DSSE signature covers (`model-signing-format.md` §5.3) and nothing else.
//! - [`pae`]: `DSSEv1 <len(type)> <type> <len(payload)> <payload>`, lengths in ASCII decimal.
//!   The key and certificate methods hard-code the in-toto type ([`pae_in_toto`]) whatever the
//!   envelope says; the Sigstore method uses the envelope's `payloadType`.
//! - [`pae_compat`]: the buggy encoding of `model_signing` 0.2.0, where the payload was
//!   formatted with Python's `repr(bytes)` (`DSSEV1 28 application/vnd.in-toto+json <len> b'...'`).

/// The in-toto payload type (28 bytes).
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE payload type other than in-toto (`model_signing`'s message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Expected DSSE payload {IN_TOTO_PAYLOAD_TYPE}, but got {0}")]
pub struct WrongPayloadType(pub String);

/// The one payload-type check: model signatures carry an in-toto statement.
pub(crate) fn check_in_toto_payload_type(payload_type: &str) -> Result<(), WrongPayloadType> {
    if payload_type == IN_TOTO_PAYLOAD_TYPE {
        Ok(())
    } else {
        Err(WrongPayloadType(payload_type.to_owned()))
    }
}

/// `PAE(payload_type, payload)` of DSSE v1.
pub fn pae(payload_type: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type);
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The PAE the key and certificate methods sign and verify: the type is always in-toto.
pub fn pae_in_toto(payload: &[u8]) -> Vec<u8> {
    pae(IN_TOTO_PAYLOAD_TYPE.as_bytes(), payload)
}

/// The v0.2.0 compat PAE: `DSSEV1 28 application/vnd.in-toto+json <len> <repr(payload)>`.
pub fn pae_compat(payload: &[u8]) -> Vec<u8> {
    format!(
        "DSSEV1 {} {} {} {}",
        IN_TOTO_PAYLOAD_TYPE.len(),
        IN_TOTO_PAYLOAD_TYPE,
        payload.len(),
        python_bytes_repr(payload)
    )
    .into_bytes()
}

/// Python's `repr(bytes)`: `b'...'`, or `b"..."` when the bytes contain `'` but no `"`;
/// `\\`, the quote, `\t`, `\n`, `\r` escaped; other bytes outside 0x20..=0x7e as `\xNN`.
pub fn python_bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(char::from(quote));
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if b == quote => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(char::from(quote));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // The example of the DSSE v1 protocol document.
        assert_eq!(
            pae(b"http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae(b"", b""), b"DSSEv1 0  0 ");
        assert!(pae_in_toto(b"{}").starts_with(b"DSSEv1 28 application/vnd.in-toto+json 2 {}"));
    }

    #[test]
    fn lengths_are_byte_lengths() {
        assert_eq!(pae(b"t", "é".as_bytes()), "DSSEv1 1 t 2 é".as_bytes());
    }

    #[test]
    fn compat_pae_uses_python_bytes_repr() {
        assert_eq!(
            pae_compat(b"{\n  \"a\": 1\n}"),
            b"DSSEV1 28 application/vnd.in-toto+json 12 b'{\\n  \"a\": 1\\n}'"
        );
    }

    #[test]
    fn bytes_repr_follows_python() {
        // Each expected value is what CPython 3.11 prints for repr(b).
        let cases: [(&[u8], &str); 8] = [
            (b"", "b''"),
            (b"abc", "b'abc'"),
            (b"it's", "b\"it's\""),
            (b"it's \"q\"", "b'it\\'s \"q\"'"),
            (b"\\ \t\n\r", "b'\\\\ \\t\\n\\r'"),
            (b"\x00\x1f\x7f\x80\xff", "b'\\x00\\x1f\\x7f\\x80\\xff'"),
            ("é".as_bytes(), "b'\\xc3\\xa9'"),
            (b"\"only double\"", "b'\"only double\"'"),
        ];
        for (input, want) in cases {
            assert_eq!(python_bytes_repr(input), want, "{input:?}");
        }
    }
}
