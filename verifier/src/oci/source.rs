//! Where an OCI image is read from: a manifest file or a layout directory.

use std::path::{Path, PathBuf};

use super::OciError;

/// Where an OCI image is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciSource {
    /// An image manifest file (`--oci-manifest`).
    Manifest(PathBuf),
    /// An OCI image layout directory (`--oci-layout`) and the manifest to pick (`--image`).
    Layout {
        /// The layout directory.
        dir: PathBuf,
        /// `TAG`, `sha256:<hex>` or `TAG@sha256:<hex>`; may be left out when the layout holds
        /// exactly one manifest.
        image: Option<String>,
    },
}

impl OciSource {
    /// The source from the three options, each possibly absent: `Ok(None)` when none is given;
    /// an image reference needs a layout.
    pub fn from_options(
        manifest: Option<&Path>,
        layout: Option<&Path>,
        image: Option<&str>,
    ) -> Result<Option<Self>, OciError> {
        match (manifest, layout) {
            (Some(m), None) if image.is_none() => Ok(Some(Self::Manifest(m.to_owned()))),
            (None, Some(dir)) => Ok(Some(Self::Layout {
                dir: dir.to_owned(),
                image: image.map(str::to_owned),
            })),
            (None, None) if image.is_none() => Ok(None),
            _ => Err(OciError::ImageWithoutLayout),
        }
    }

    /// The manifest file or the layout directory.
    pub fn path(&self) -> &Path {
        match self {
            Self::Manifest(path) | Self::Layout { dir: path, .. } => path,
        }
    }
}
