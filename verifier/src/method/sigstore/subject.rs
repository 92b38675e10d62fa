//! The artifact digest a Sigstore bundle is verified against: the first subject's SHA-256 of
//! the (not yet authenticated) in-toto statement, read without building the rest of it.

use crate::dsse::WrongPayloadType;

/// Why the DSSE payload cannot be bound to an artifact digest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The payload type is not in-toto.
    #[error(transparent)]
    WrongType(#[from] WrongPayloadType),
    /// No `subject[0].digest.sha256`.
    #[error("the in-toto statement has no subject with a sha256 digest")]
    NoSubjectDigest,
    /// The payload is not JSON.
    #[error("the DSSE payload is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// The digest is not 64 hex digits.
    #[error("the subject digest is not a hex SHA-256: '{0}'")]
    NotHexDigest(String),
}

/// The first subject's SHA-256 digest of an in-toto statement: the manifest root digest for the
/// v1.0 predicate (the model check later recomputes it from the resources and from the model).
pub fn statement_subject_sha256(payload: &[u8]) -> Result<[u8; 32], PayloadError> {
    // The payload is not authenticated yet: read only `subject[0].digest.sha256` into typed
    // structures and skip everything else unbuilt, so memory stays bounded (issue 18).
    let no_subject = || PayloadError::NoSubjectDigest;
    let statement: SubjectsOnly<'_> = match serde_json::from_slice(payload) {
        Ok(s) => s,
        // Valid JSON of another shape (a subject that is not a list of objects...).
        Err(e) if e.is_data() => return Err(no_subject()),
        Err(e) => return Err(PayloadError::NotJson(e)),
    };
    let hex_digest = statement
        .subject
        .0
        .and_then(|s| s.digest)
        .and_then(|d| d.sha256)
        .ok_or_else(no_subject)?;
    let hex_digest: &str = &hex_digest;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut out)
        .map_err(|_| PayloadError::NotHexDigest(hex_digest.to_owned()))?;
    Ok(out)
}

/// An in-toto statement, only as far as its first subject's SHA-256 digest.
#[derive(serde::Deserialize)]
struct SubjectsOnly<'a> {
    #[serde(default, borrow)]
    subject: FirstSubject<'a>,
}

/// The first element of `subject`; the others are skipped without being built.
#[derive(Default)]
struct FirstSubject<'a>(Option<SubjectDigest<'a>>);

#[derive(serde::Deserialize)]
struct SubjectDigest<'a> {
    #[serde(default, borrow)]
    digest: Option<Sha256Only<'a>>,
}

#[derive(serde::Deserialize)]
struct Sha256Only<'a> {
    #[serde(default, borrow)]
    sha256: Option<std::borrow::Cow<'a, str>>,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for FirstSubject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct First<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for First<'a> {
            type Value = FirstSubject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of subjects")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<SubjectDigest<'a>>()?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(FirstSubject(first))
            }
        }
        d.deserialize_seq(First(std::marker::PhantomData))
    }
}
