//! Resolving an image in an OCI image layout directory (`--oci-layout`, `--image`).

use std::path::Path;

use super::*;

/// `TAG`, `sha256:<hex>`, `@sha256:<hex>` or `TAG@sha256:<hex>`.
pub(super) fn parse_reference(
    reference: &str,
) -> Result<(Option<&str>, Option<[u8; 32]>), OciError> {
    let bad = || OciError::Reference {
        reference: truncated(reference, 200),
    };
    let (tag, digest) = match reference.split_once('@') {
        Some((tag, digest)) => (tag, Some(digest)),
        None if reference.starts_with("sha256:") => ("", Some(reference)),
        None => (reference, None),
    };
    let digest = match digest {
        Some(d) => Some(parse_sha256_digest(d).ok_or_else(bad)?),
        None => None,
    };
    if tag.chars().any(char::is_control) || (tag.is_empty() && digest.is_none()) {
        return Err(bad());
    }
    Ok(((!tag.is_empty()).then_some(tag), digest))
}

/// Resolves `reference` in an OCI image layout directory and parses that manifest (its blob
/// is checked against the digest it is stored under).
pub(crate) fn from_layout(dir: &Path, reference: Option<&str>) -> Result<OciImage, OciError> {
    let not_layout = |problem| OciError::NotALayout {
        dir: dir.to_owned(),
        problem,
    };
    let marker_path = dir.join("oci-layout");
    if !marker_path.is_file() {
        return Err(not_layout("no oci-layout file"));
    }
    let marker: Value = parse_json(&read_bounded(&marker_path)?, &marker_path, "layout marker")?;
    if !marker["imageLayoutVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("1."))
    {
        return Err(not_layout("oci-layout has no imageLayoutVersion 1.x"));
    }
    let index_path = dir.join("index.json");
    let index: Value = parse_json(&read_bounded(&index_path)?, &index_path, "image index")?;
    let ctx = Ctx { path: &index_path };
    let entries = index["manifests"]
        .as_array()
        .ok_or_else(|| ctx.field("manifests", "must be a list"))?;
    let mut listed = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let d = ctx.descriptor(e, &format!("manifests[{i}]"))?;
        let tag = d.annotations.get(REF_NAME_ANNOTATION).cloned();
        listed.push((d.media_type, d.digest, d.size, tag));
    }
    let tags = listed
        .iter()
        .filter_map(|l| l.3.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let resolve = |problem: String| OciError::Resolve {
        dir: dir.to_owned(),
        problem,
        tags: tags.clone(),
    };
    let (tag, digest) = match reference {
        Some(r) => parse_reference(r)?,
        None => (None, None),
    };
    let candidates: Vec<_> = listed
        .iter()
        .filter(|l| tag.is_none_or(|t| l.3.as_deref() == Some(t)))
        .filter(|l| digest.is_none_or(|d| l.1 == d))
        .collect();
    let (media_type, digest, size) = match (candidates.as_slice(), tag, digest) {
        ([one], _, _) => (Some(one.0.clone()), one.1, Some(one.2)),
        // A digest that index.json does not list directly (e.g. one platform of a listed
        // index): read its blob; the digest check below still binds it.
        ([], None, Some(d)) => (None, d, None),
        ([], Some(t), _) => {
            return Err(resolve(format!(
                "no manifest tagged '{t}'{}",
                match digest {
                    Some(d) => format!(" with digest sha256:{}", hex::encode(d)),
                    None => String::new(),
                }
            )));
        }
        ([], None, None) => return Err(resolve("index.json lists no manifest".to_owned())),
        (many, _, _) => {
            return Err(resolve(format!(
                "{} manifests match{}; name one with --image TAG or --image sha256:<hex>",
                many.len(),
                reference.map(|r| format!(" '{r}'")).unwrap_or_default()
            )));
        }
    };
    if let Some(mt) = &media_type
        && INDEX_MEDIA_TYPES.contains(&mt.as_str())
    {
        return Err(OciError::IsIndex {
            path: dir.join(format!("blobs/sha256/{}", hex::encode(digest))),
            media_type: mt.clone(),
        });
    }
    let blob_path = dir.join("blobs/sha256").join(hex::encode(digest));
    let bytes = read_bounded(&blob_path)?;
    let found: [u8; 32] = Sha256::digest(&bytes).into();
    if found != digest || size.is_some_and(|s| s != bytes.len() as u64) {
        return Err(OciError::Blob {
            path: blob_path,
            expected: format!(
                "sha256:{}{}",
                hex::encode(digest),
                size.map(|s| format!(", {s} bytes")).unwrap_or_default()
            ),
            found: format!("sha256:{}, {} bytes", hex::encode(found), bytes.len()),
        });
    }
    let name = tag.map(str::to_owned).unwrap_or_else(|| {
        dir.file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "oci-image".to_owned())
    });
    OciImage::parse(&bytes, &blob_path, name)
}
