//! Trusted Sigstore signers: an identity (a SAN of the Fulcio certificate) and the OIDC issuer
//! that vouched for it, each compared exactly or as a regular expression.
//!
//! A certificate is admitted by a list of signers when SOME signer's identity pattern matches one
//! of its SANs AND the same signer's issuer pattern matches its issuer: the pairs are never
//! crossed (trusting `A` from `X` and `B` from `Y` does not trust `A` from `Y`).
//!
//! Regular expressions are the `regex` crate's syntax and must match the WHOLE value (they are
//! compiled as `^(?:…)$`), as cosign's `--certificate-identity-regexp` is meant to be used: a
//! pattern never matches a mere substring. The pattern is checked on its own first, so a pattern
//! with unbalanced groups (`a)|(b`) cannot break out of the anchors.

use std::fmt;

/// The most memory one compiled pattern may take (bytes), so a ModelValidation or a command line
/// cannot make the verifier (or the operator's webhook) build a huge automaton.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How an identity or an issuer is compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Byte-for-byte equality.
    Exact(String),
    /// A regular expression (the `regex` crate's syntax) that must match the whole value.
    RegExp(String),
}

/// One trusted signer: who (a SAN of the certificate) and which OIDC issuer vouched for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignerIdentity {
    /// Matched against the certificate's email, URI and Sigstore-username SANs.
    pub identity: Pattern,
    /// Matched against the certificate's OIDC issuer extension.
    pub issuer: Pattern,
}

/// A regular expression that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid regular expression '{pattern}': {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// Why the `regex` crate refused it (syntax, or larger than [`REGEX_SIZE_LIMIT`]).
    pub reason: regex::Error,
}

/// A [`Pattern`] ready to be matched.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Byte-for-byte equality with this string.
    Exact(String),
    /// The anchored (`^(?:…)$`) expression.
    RegExp(regex::Regex),
}

impl Matcher {
    /// Whether `value` matches (the whole of it).
    pub fn is_match(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => s == value,
            Self::RegExp(re) => re.is_match(value),
        }
    }
}

impl Pattern {
    /// The pattern text (the exact string, or the regular expression as given).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Exact(s) | Self::RegExp(s) => s,
        }
    }

    /// Whether this is a regular expression.
    pub fn is_regexp(&self) -> bool {
        matches!(self, Self::RegExp(_))
    }

    /// The pattern as a regular expression: an exact string escaped with [`regex::escape`].
    pub fn to_regexp(&self) -> String {
        match self {
            Self::Exact(s) => regex::escape(s),
            Self::RegExp(s) => s.clone(),
        }
    }

    /// Compiles the pattern; a regular expression is checked on its own, then anchored.
    pub fn compile(&self) -> Result<Matcher, PatternError> {
        match self {
            Self::Exact(s) => Ok(Matcher::Exact(s.clone())),
            Self::RegExp(p) => compile_anchored(p).map(Matcher::RegExp),
        }
    }
}

/// Checks that `pattern` is a valid regular expression within [`REGEX_SIZE_LIMIT`], as the command
/// line and the operator's admission checks do before anything is verified.
pub fn check_regexp(pattern: &str) -> Result<(), PatternError> {
    compile_anchored(pattern).map(drop)
}

fn compile_anchored(pattern: &str) -> Result<regex::Regex, PatternError> {
    let build = |p: &str| {
        regex::RegexBuilder::new(p)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|reason| PatternError {
                pattern: pattern.to_owned(),
                reason,
            })
    };
    // On its own first: a pattern that only parses once wrapped (`a)|(b`) would escape the anchors.
    build(pattern)?;
    build(&format!("^(?:{pattern})$"))
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(s) => write!(f, "'{s}'"),
            Self::RegExp(s) => write!(f, "regexp '{s}'"),
        }
    }
}

impl fmt::Display for SignerIdentity {
    /// `identity 'a@example.com' from issuer 'https://accounts.example.com'`, or with `regexp` before a
    /// pattern that is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "identity {} from issuer {}", self.identity, self.issuer)
    }
}

impl SignerIdentity {
    /// A signer whose identity and issuer are both compared exactly (`model_signing`'s
    /// `--identity`/`--identity_provider`).
    pub fn exact(identity: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            identity: Pattern::Exact(identity.into()),
            issuer: Pattern::Exact(issuer.into()),
        }
    }

    /// A signer whose identity and issuer are both regular expressions.
    pub fn regexp(identity: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            identity: Pattern::RegExp(identity.into()),
            issuer: Pattern::RegExp(issuer.into()),
        }
    }

    /// Whether both halves are exact (rendered as `--identity`/`--identity_provider`).
    pub fn is_exact(&self) -> bool {
        !self.identity.is_regexp() && !self.issuer.is_regexp()
    }

    /// The same signer with both halves as regular expressions (an exact half escaped): how a
    /// pair with any regular expression is written on the command line.
    pub fn as_regexp_pair(&self) -> Self {
        Self::regexp(self.identity.to_regexp(), self.issuer.to_regexp())
    }

    /// Compiles both patterns.
    pub fn compile(&self) -> Result<SignerMatcher, PatternError> {
        Ok(SignerMatcher {
            identity: self.identity.compile()?,
            issuer: self.issuer.compile()?,
        })
    }
}

/// A [`SignerIdentity`] ready to be matched.
#[derive(Debug, Clone)]
pub struct SignerMatcher {
    /// For the SANs.
    pub identity: Matcher,
    /// For the OIDC issuer.
    pub issuer: Matcher,
}

impl SignerMatcher {
    /// The first of `sans` this signer admits when the certificate's issuer is `issuer`: the
    /// issuer and a SAN must both match this one signer.
    pub fn admits<'a>(&self, issuer: &str, sans: &'a [String]) -> Option<&'a str> {
        if !self.issuer.is_match(issuer) {
            return None;
        }
        sans.iter()
            .map(String::as_str)
            .find(|san| self.identity.is_match(san))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admits(signer: &SignerIdentity, identity: &str, issuer: &str) -> bool {
        signer
            .compile()
            .unwrap()
            .admits(issuer, &[identity.to_owned()])
            .is_some()
    }

    #[test]
    fn patterns_match_the_whole_value() {
        let re = |p: &str| Pattern::RegExp(p.into()).compile().unwrap();
        let exact = |p: &str| Pattern::Exact(p.into()).compile().unwrap();
        let wf = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1";
        for (matcher, value, want) in [
            (exact("a@example.com"), "a@example.com", true),
            (exact("a@example.com"), "a@example.co", false),
            (exact("a@example.com"), "xa@example.com", false),
            // Exact strings are not expressions.
            (exact("a.example.com"), "aXexample.com", false),
            (re(r".*@example\.com"), "a@example.com", true),
            // Anchored: a substring match is not enough.
            (re(r"example\.com"), "a@example.com", false),
            (re(r"a@example\.com"), "a@example.com.evil", false),
            (re(r"a@example\.com"), "evil.a@example.com", false),
            // An alternation is anchored as a whole, not only its first and last branch.
            (re("a|b"), "a", true),
            (re("a|b"), "ab", false),
            (re("a|b"), "xb", false),
            (re("a|ab"), "ab", true),
            // `$` is the end of the text, not "before a final newline".
            (re("a"), "a\n", false),
            (
                re(r"https://github\.com/org/repo/\.github/workflows/release\.yml@refs/tags/v.*"),
                wf,
                true,
            ),
            (
                re(r"https://github\.com/org/repo/\.github/workflows/release\.yml@refs/tags/v.*"),
                "https://github.com/org/repo/.github/workflows/other.yml@refs/tags/v1",
                false,
            ),
            (re(""), "", true),
            (re(""), "a", false),
        ] {
            assert_eq!(matcher.is_match(value), want, "{matcher:?} on {value:?}");
        }
    }

    #[test]
    fn invalid_or_escaping_regexps_are_refused() {
        for bad in [
            "a(",
            "[",
            // Would turn `^(?:a)|(b)$` into an unanchored alternation if only the wrapped form
            // were compiled.
            "a)|(b",
            "a)|.*|(b",
            ")",
            // Over the size limit.
            "(?:a{1000}){1000}",
            r"\p{NotAClass}",
        ] {
            let err = Pattern::RegExp(bad.into()).compile().unwrap_err();
            assert_eq!(err.pattern, bad);
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid regular expression '{bad}': ")),
                "{err}"
            );
            assert!(check_regexp(bad).is_err(), "{bad}");
        }
        assert_eq!(check_regexp(r"[a-z]+@example\.com"), Ok(()));
        // Exact strings are never compiled.
        assert!(Pattern::Exact("a(".into()).compile().is_ok());
    }

    #[test]
    fn a_signer_needs_both_halves_to_match() {
        let a_x = SignerIdentity::exact("a", "X");
        let re = SignerIdentity {
            identity: Pattern::RegExp("[ab]".into()),
            issuer: Pattern::Exact("Y".into()),
        };
        for (signer, identity, issuer, want) in [
            (&a_x, "a", "X", true),
            (&a_x, "a", "Y", false),
            (&a_x, "b", "X", false),
            (&re, "a", "Y", true),
            (&re, "b", "Y", true),
            (&re, "c", "Y", false),
            (&re, "a", "X", false),
        ] {
            assert_eq!(
                admits(signer, identity, issuer),
                want,
                "{signer} on {identity}@{issuer}"
            );
        }
        // Any SAN may match; the first one that does is returned.
        let m = re.compile().unwrap();
        let sans = ["z".to_owned(), "b".to_owned(), "a".to_owned()];
        assert_eq!(m.admits("Y", &sans), Some("b"));
        assert_eq!(m.admits("Y", &[]), None);
    }

    #[test]
    fn an_exact_half_becomes_an_escaped_regexp() {
        let mixed = SignerIdentity {
            identity: Pattern::Exact("a.b+c@example.com".into()),
            issuer: Pattern::RegExp("https://issuer\\.example/.*".into()),
        };
        assert!(!mixed.is_exact());
        let as_re = mixed.as_regexp_pair();
        assert_eq!(
            as_re,
            SignerIdentity::regexp(r"a\.b\+c@example\.com", "https://issuer\\.example/.*")
        );
        // Same meaning.
        for (identity, issuer) in [
            ("a.b+c@example.com", "https://issuer.example/x"),
            ("aXb+c@example.com", "https://issuer.example/x"),
            ("a.bbc@example.com", "https://issuer.example/x"),
            ("a.b+c@example.com", "https://issuer.examplex"),
        ] {
            assert_eq!(
                admits(&mixed, identity, issuer),
                admits(&as_re, identity, issuer),
                "{identity}@{issuer}"
            );
        }
        assert_eq!(
            mixed.to_string(),
            "identity 'a.b+c@example.com' from issuer regexp 'https://issuer\\.example/.*'"
        );
    }
}
