//! The model and how it is walked: the flags `verify`, `sign`, `digest` and `watch` share
//! (`model_signing`'s spellings plus this project's extensions). Defined once here; the verifier
//! turns them into its library options, the operator renders them for the injected container.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// The model path, or an OCI image instead, and the walk flags.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct WalkArgs {
    /// The model: a directory, or a single file. Not given with `--oci-manifest`/`--oci-layout`.
    #[arg(
        value_name = "MODEL_PATH",
        required_unless_present_any = ["oci_manifest", "oci_layout"],
        conflicts_with_all = ["oci_manifest", "oci_layout"],
        default_value = ".",
        hide_default_value = true
    )]
    pub model_path: PathBuf,
    /// Extension: the model is an OCI image instead of a directory.
    #[command(flatten)]
    pub oci: OciArgs,
    /// A file or directory to leave out, relative to the current directory (as `model_signing`
    /// does), dropped when outside the model. Repeat the flag for several paths.
    #[arg(
        long = "ignore-paths",
        visible_alias = "ignore_paths",
        value_name = "PATH"
    )]
    pub ignore_paths: Vec<PathBuf>,
    /// Leave out the top-level `.git`, `.gitattributes`, `.github` and `.gitignore` (default).
    #[arg(
        long = "ignore-git-paths",
        visible_alias = "ignore_git_paths",
        overrides_with = "no_ignore_git_paths"
    )]
    pub ignore_git_paths: bool,
    /// Hash the top-level git files too.
    #[arg(
        long = "no-ignore-git-paths",
        visible_alias = "no_ignore_git_paths",
        overrides_with = "ignore_git_paths"
    )]
    pub no_ignore_git_paths: bool,
    /// Follow symbolic links to files (a link to a directory contributes nothing).
    #[arg(
        long = "allow_symlinks",
        visible_alias = "allow-symlinks",
        overrides_with = "no_allow_symlinks"
    )]
    pub allow_symlinks: bool,
    /// Extension: an explicit "no symlinks" policy. A signature that records
    /// `allow_symlinks: true` is refused instead of being verified with symlinks followed.
    /// Without either flag the policy recorded in the signature applies (OMS v1.0 §6.1.1).
    #[arg(
        long = "no-allow_symlinks",
        visible_alias = "no-allow-symlinks",
        overrides_with = "allow_symlinks"
    )]
    pub no_allow_symlinks: bool,
    /// Extension: how files not in the page cache are read (files in it are always read from
    /// it). `direct` reads them with direct I/O while hashing; `cached` through the page cache.
    #[arg(
        long = "cold-reads",
        visible_alias = "cold_reads",
        value_enum,
        default_value_t = ColdReads::Direct,
        value_name = "HOW"
    )]
    pub cold_reads: ColdReads,
}

impl WalkArgs {
    /// `model_signing`'s defaults for the given model.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        Self {
            model_path: model_path.into(),
            oci: OciArgs::default(),
            ignore_paths: Vec::new(),
            ignore_git_paths: false,
            no_ignore_git_paths: false,
            allow_symlinks: false,
            no_allow_symlinks: false,
            cold_reads: ColdReads::Direct,
        }
    }

    /// Whether the top-level git paths are left out (the last of the two flags wins).
    pub fn effective_ignore_git_paths(&self) -> bool {
        !self.no_ignore_git_paths
    }

    /// The local symlink policy: `Some(true)` with `--allow_symlinks`, `Some(false)` with
    /// `--no-allow_symlinks` (the last of the two wins), `None` when neither is given.
    pub fn symlink_policy(&self) -> Option<bool> {
        match (self.allow_symlinks, self.no_allow_symlinks) {
            (_, true) => Some(false),
            (true, false) => Some(true),
            (false, false) => None,
        }
    }
}

/// How parts of the model that are not in the page cache are read (`--cold-reads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColdReads {
    /// Read them with direct I/O (`O_DIRECT`) on a helper thread while hashing: faster, little
    /// kernel CPU, and the page cache (charged to the container's memory cgroup) does not grow.
    #[default]
    Direct,
    /// Read them through the page cache, which leaves the model cached for a program that loads
    /// it next on the same machine.
    Cached,
}

/// Extension: an OCI image as the model (`model-verifier` only; `model_signing` 1.1.1 has no
/// such flags). The signed items are the image manifest's layers (and its config blob), named
/// as the Go `model-signing` names them; no model directory is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct OciArgs {
    /// An OCI image manifest (JSON, e.g. from `skopeo inspect --raw`) whose layer digests are
    /// the model's items.
    #[arg(
        long = "oci-manifest",
        visible_alias = "oci_manifest",
        value_name = "MANIFEST_JSON",
        conflicts_with = "oci_layout"
    )]
    pub oci_manifest: Option<PathBuf>,
    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`); the manifest is the
    /// one `--image` names.
    #[arg(long = "oci-layout", visible_alias = "oci_layout", value_name = "DIR")]
    pub oci_layout: Option<PathBuf>,
    /// With `--oci-layout`: `TAG`, `sha256:<hex>` or `TAG@sha256:<hex>` (the tag is the
    /// `org.opencontainers.image.ref.name` annotation in `index.json`). May be left out when
    /// the layout holds exactly one manifest. Without `--oci-layout` it is refused (by the
    /// verifier, as an unusable model source).
    #[arg(long = "image", value_name = "REF", conflicts_with = "oci_manifest")]
    pub image: Option<String>,
}

impl OciArgs {
    /// Whether an OCI image replaces the model directory.
    pub fn is_set(&self) -> bool {
        self.oci_manifest.is_some() || self.oci_layout.is_some()
    }

    /// The flags, as `to_args` renders them.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.oci_manifest {
            crate::verify::push_option(&mut out, "--oci-manifest", crate::verify::path_arg(p));
        }
        if let Some(p) = &self.oci_layout {
            crate::verify::push_option(&mut out, "--oci-layout", crate::verify::path_arg(p));
        }
        if let Some(r) = &self.image {
            crate::verify::push_option(&mut out, "--image", r.clone());
        }
        out
    }
}
