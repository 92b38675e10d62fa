//! POSIX path names as `model_signing` sees them (Python's `PurePosixPath`), and Python `repr`
//! for byte-compatible messages.

use std::cmp::Ordering;

/// Normalises a resource name like `PurePosixPath(name)` does: repeated `/` and `.` components
/// are dropped, a trailing `/` too; `..` is kept (such a name never matches a walked file). An
/// empty result is `"."`. One or three-plus leading slashes give `/`, exactly two give `//`.
pub fn normalize(name: &str) -> String {
    let root = if name.starts_with("//") && !name.starts_with("///") {
        "//"
    } else if name.starts_with('/') {
        "/"
    } else {
        ""
    };
    let parts: Vec<&str> = name
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let joined = format!("{root}{}", parts.join("/"));
    if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// A path as `str(pathlib.Path(path))` spells it (`./x.sig` → `x.sig`, `model/` → `model`), so
/// messages name files exactly as `model_signing` does. It names the same file (`..` is kept).
pub fn pathlib(path: &std::path::Path) -> std::path::PathBuf {
    match path.to_str() {
        Some(s) => std::path::PathBuf::from(normalize(s)),
        None => path.to_path_buf(),
    }
}

/// The components of a normalised relative name (`"."` has none).
pub fn components(name: &str) -> impl Iterator<Item = &str> {
    name.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// Orders names like `PurePosixPath` does: by the list of components, each compared by code
/// point (for UTF-8, byte order). `a/x` < `a b/x` < `a.txt`, and `weights/x` < `weights.txt`.
///
/// Names with the same components but different spellings (`/a.txt`, `//a.txt`, `a.txt`) are
/// different names: they are then ordered by their text, so the order is total and agrees with
/// string equality. A map keyed by names never takes `/a.txt` for `a.txt` (issue 18).
pub fn cmp_names(a: &str, b: &str) -> Ordering {
    components(a).cmp(components(b)).then_with(|| a.cmp(b))
}

/// Whether a normalised relative name stays inside the model: not absolute, no `..` component.
pub fn is_contained(name: &str) -> bool {
    !name.starts_with('/') && components(name).all(|c| c != "..")
}

/// Python's `repr()` of a `str`: `'…'`, or `"…"` when the text holds `'` and no `"`.
pub fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `s` with control characters (C0, DEL, C1) escaped as `\n`, `\t`, `\r` or `\xNN`, so a file
/// name cannot move the cursor, clear the screen or fake a line of output in a message.
/// Everything else is kept as is.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// A path for a message: lossy UTF-8, control characters escaped ([`escape_controls`]).
pub fn shown(path: &std::path::Path) -> String {
    escape_controls(&path.to_string_lossy())
}

/// Python's `repr()` of `bytes`: `b'…'` with every byte outside 0x20–0x7E as `\xNN`.
pub fn repr_bytes(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(b.len() * 2 + 3);
    out.push('b');
    out.push(quote as char);
    for &byte in b {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push(quote as char);
    out
}

/// Python's `repr()` of a `list` of `str`.
pub fn repr_str_list<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| repr_str(s.as_ref())).collect();
    format!("[{}]", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_matches_pure_posix_path() {
        for (input, want) in [
            ("./README.md", "README.md"),
            (
                "weights//nested/./tokenizer.json",
                "weights/nested/tokenizer.json",
            ),
            ("config.json/", "config.json"),
            ("a/../b", "a/../b"),
            ("", "."),
            (".", "."),
            ("./", "."),
            ("/abs/x", "/abs/x"),
            ("//two", "//two"),
            ("///three", "/three"),
            ("é/ü/naïve file.txt", "é/ü/naïve file.txt"),
        ] {
            assert_eq!(normalize(input), want, "{input:?}");
        }
    }

    #[test]
    fn ordering_is_by_components_not_by_string() {
        let mut names = vec![
            "日本語/モデル.bin",
            "a.txt",
            "é/ü/naïve file.txt",
            "a-b.txt",
            "z/ends with space .txt",
            "a b/x.txt",
            "emoji 🤖.json",
            "a/x.txt",
            "d1/d2/deep.bin",
            "A.txt",
        ];
        names.sort_by(|a, b| cmp_names(a, b));
        assert_eq!(
            names,
            [
                "A.txt",
                "a/x.txt",
                "a b/x.txt",
                "a-b.txt",
                "a.txt",
                "d1/d2/deep.bin",
                "emoji 🤖.json",
                "z/ends with space .txt",
                "é/ü/naïve file.txt",
                "日本語/モデル.bin"
            ]
        );
        assert_eq!(cmp_names("weights/x", "weights.txt"), Ordering::Less);
        // Same components, different names: never equal.
        for (a, b) in [
            ("/a.txt", "a.txt"),
            ("//a.txt", "a.txt"),
            ("//a.txt", "/a.txt"),
        ] {
            assert_ne!(cmp_names(a, b), Ordering::Equal, "{a} vs {b}");
            assert_eq!(cmp_names(a, b), cmp_names(b, a).reverse(), "{a} vs {b}");
        }
        // Plain string order says the opposite; this is the trap.
        assert!("weights.txt" < "weights/x");
    }

    #[test]
    fn containment() {
        assert!(is_contained("a/b"));
        assert!(is_contained("."));
        assert!(!is_contained("../x"));
        assert!(!is_contained("a/../../x"));
        assert!(!is_contained("/etc/passwd"));
    }

    #[test]
    fn python_reprs() {
        assert_eq!(repr_str("a"), "'a'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("both ' and \""), "'both \\' and \"'");
        assert_eq!(repr_str("tab\tnl\n\\"), "'tab\\tnl\\n\\\\'");
        assert_eq!(repr_str("é🤖"), "'é🤖'");
        assert_eq!(repr_str("\u{1}"), "'\\x01'");
        assert_eq!(repr_bytes(b"ab\x00\xff'"), "b\"ab\\x00\\xff'\"");
        assert_eq!(repr_bytes(b"x\n"), "b'x\\n'");
        assert_eq!(repr_str_list(&["a", "b'"]), "['a', \"b'\"]");
    }

    #[test]
    fn control_characters_are_escaped_for_messages() {
        assert_eq!(
            escape_controls("a\nb\r\t\u{1b}[2J\u{7f}\u{85}é 🤖 'q' \\"),
            "a\\nb\\r\\t\\x1b[2J\\x7f\\x85é 🤖 'q' \\"
        );
        assert_eq!(
            shown(std::path::Path::new("m/evil\nVerification succeeded")),
            "m/evil\\nVerification succeeded"
        );
    }
}
