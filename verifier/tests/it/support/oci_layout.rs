//! OCI image layouts written blob by blob for the tests: layer bytes → `blobs/sha256/<hex>`,
//! a config blob, the image manifest (itself a blob), `index.json` with a tag, `oci-layout`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One layer: its media type, bytes and optional title.
#[derive(Debug, Clone)]
pub struct Layer {
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
    pub title: Option<String>,
}

impl Layer {
    /// An ORAS-style layer: the file's bytes, titled with its name.
    pub fn titled(name: &str, bytes: Vec<u8>) -> Self {
        Self {
            media_type: "application/vnd.oci.image.layer.v1.tar",
            bytes,
            title: Some(name.to_owned()),
        }
    }

    /// An image-builder layer: a gzip-compressed tar of one file (made with `tar` and `gzip`),
    /// untitled.
    pub fn gzip_tar(content: Vec<u8>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file.bin"), &content).unwrap();
        let out = Command::new("tar")
            .args([
                "--sort=name",
                "--mtime=@0",
                "--owner=0",
                "--group=0",
                "-c",
                "file.bin",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "tar: {out:?}");
        let mut gz = Command::new("gzip")
            .args(["-n", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        gz.stdin.take().unwrap().write_all(&out.stdout).unwrap();
        let gz = gz.wait_with_output().unwrap();
        assert!(gz.status.success());
        Self {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
            bytes: gz.stdout,
            title: None,
        }
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What [`write_layout`] wrote.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// The item names and hex digests: the layers (title or `layer_NNN.tar.gz`) and
    /// `config.json`.
    pub items: Vec<(String, String)>,
}

impl Image {
    /// `sha256:<hex>` of the manifest.
    pub fn digest(&self) -> String {
        format!("sha256:{}", sha256(&self.manifest))
    }

    /// (name, hex digest) of every item, the config included.
    pub fn blobs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.items.iter().map(|(n, d)| (n.as_str(), d.as_str()))
    }
}

fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    let hex = sha256(bytes);
    std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    hex
}

/// Writes an OCI image layout with one image manifest tagged `tag`.
pub fn write_layout(dir: &Path, layers: &[Layer], config: &[u8], tag: &str) -> Image {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let config_hex = put_blob(dir, config);
    let mut items = Vec::new();
    let mut descriptors = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let hex = put_blob(dir, &l.bytes);
        let mut d = json!({
            "mediaType": l.media_type,
            "digest": format!("sha256:{hex}"),
            "size": l.bytes.len(),
        });
        if let Some(t) = &l.title {
            d["annotations"] = json!({ "org.opencontainers.image.title": t });
        }
        descriptors.push(d);
        let name = l
            .title
            .clone()
            .unwrap_or_else(|| format!("layer_{i:03}.tar.gz"));
        items.push((name, hex));
    }
    items.push(("config.json".to_owned(), config_hex.clone()));
    let manifest: Value = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.model.v1",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_hex}"),
            "size": config.len(),
        },
        "layers": descriptors,
        "annotations": {"org.opencontainers.image.created": "2026-12-03T00:00:00Z"},
    });
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    let manifest_hex = put_blob(dir, &manifest);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_hex}"),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
    Image { manifest, items }
}
