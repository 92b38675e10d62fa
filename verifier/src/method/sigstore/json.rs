//! Strict access to protobuf-specs JSON (bundles and trust files): objects with a closed field
//! set, members that must be present, and the error that names the JSON path of what is wrong.

use serde_json::{Map, Value};

/// What is wrong with the shape of a JSON document, at which path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// A member that must be an object is something else.
    #[error("{path} must be a JSON object")]
    NotAnObject {
        /// The JSON path.
        path: String,
    },
    /// A member that must be an array is something else.
    #[error("{path} must be an array")]
    NotAnArray {
        /// The JSON path.
        path: String,
    },
    /// A member that must be a string is something else.
    #[error("{path} must be a string")]
    NotAString {
        /// The JSON path.
        path: String,
    },
    /// A required member is missing.
    #[error("{path}.{key} is missing")]
    Missing {
        /// The JSON path of the object.
        path: String,
        /// The missing member.
        key: &'static str,
    },
    /// A member outside the message's field set.
    #[error("unknown field '{key}'{}", in_path(path))]
    UnknownField {
        /// The JSON path of the object (empty at the top level).
        path: String,
        /// The unknown member.
        key: String,
    },
}

fn in_path(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" in {path}")
    }
}

/// Fails on fields outside `allowed` (protobuf-specs JSON names).
pub(crate) fn only_fields(
    obj: &Map<String, Value>,
    path: &str,
    allowed: &[&str],
) -> Result<(), ShapeError> {
    match obj.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(ShapeError::UnknownField {
            path: path.to_owned(),
            key: key.clone(),
        }),
        None => Ok(()),
    }
}

/// `v` as an object.
pub(crate) fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ShapeError> {
    v.as_object().ok_or_else(|| ShapeError::NotAnObject {
        path: path.to_owned(),
    })
}

/// `v` as an array.
pub(crate) fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, ShapeError> {
    v.as_array().ok_or_else(|| ShapeError::NotAnArray {
        path: path.to_owned(),
    })
}

/// `v` as a string.
pub(crate) fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, ShapeError> {
    v.as_str().ok_or_else(|| ShapeError::NotAString {
        path: path.to_owned(),
    })
}

/// The member `key` of `o`, which must be present.
pub(crate) fn member<'a>(
    o: &'a Map<String, Value>,
    key: &'static str,
    path: &str,
) -> Result<&'a Value, ShapeError> {
    o.get(key).ok_or_else(|| ShapeError::Missing {
        path: path.to_owned(),
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_name_the_path() {
        let v = serde_json::json!({"a": 1, "b": 2});
        let o = object(&v, "x").unwrap();
        assert!(only_fields(o, "x", &["a", "b"]).is_ok());
        assert_eq!(
            only_fields(o, "x", &["a"]).unwrap_err().to_string(),
            "unknown field 'b' in x"
        );
        assert_eq!(
            only_fields(o, "", &["b"]).unwrap_err().to_string(),
            "unknown field 'a'"
        );
        assert_eq!(
            member(o, "c", "x").unwrap_err().to_string(),
            "x.c is missing"
        );
    }
}
