//! A model on disk and its manifest: what to walk, what to ignore, how to hash.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::hashing::{HashError, HashItem, HashingConfig, Serialization, hash_items, shard_ranges};
use crate::manifest::{Digest, Manifest, ResourceKey};
use crate::walk::{self, IgnoreSet, ModelFile, WalkError};

/// Models at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 256 << 20;

/// Computing a manifest failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The walk refused a path.
    #[error(transparent)]
    Walk(#[from] WalkError),
    /// A file could not be read.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The current directory is needed to resolve command-line paths.
    #[error("cannot determine the current directory: {0}")]
    CurrentDir(#[source] std::io::Error),
    /// Nothing to sign: no regular file (or, with shards, no byte) after exclusions. OMS v1.0
    /// §6.1 and §5.2.1: an empty model must be rejected; `resources` has at least one entry.
    #[error(
        "the model '{}' has no file to sign after exclusions (OMS v1.0 §6.1: an empty model must be rejected)",
        crate::posix::shown(model)
    )]
    EmptyModel {
        /// The model path.
        model: PathBuf,
    },
}

/// Which model, and how to turn it into a manifest, with `model_signing`'s CLI semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The model directory or single file, as given.
    pub model_path: PathBuf,
    /// `--ignore-paths`: relative to the current directory, dropped when outside the model.
    pub ignore_paths: Vec<PathBuf>,
    /// The signature file: ignored when it lies inside the model.
    pub signature_path: Option<PathBuf>,
    /// Leave out the top-level git names.
    pub ignore_git_paths: bool,
    /// Follow symlinks to files.
    pub allow_symlinks: bool,
    /// Files or shards, and the hash.
    pub hashing: HashingConfig,
    /// Read large files that are not in the page cache with direct I/O (`--cold-reads direct`).
    pub direct_io: bool,
}

impl ModelSpec {
    /// `model_signing`'s defaults: files, SHA-256, git paths ignored, no symlinks.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        Self {
            model_path: model_path.into(),
            ignore_paths: Vec::new(),
            signature_path: None,
            ignore_git_paths: true,
            allow_symlinks: false,
            hashing: HashingConfig::default(),
            direct_io: true,
        }
    }

    /// The ignore set: command-line paths and the signature (CLI semantics), the git names,
    /// and `recorded` (a signature's `ignore_paths`, relative to the model).
    pub fn ignore_set(&self, recorded: &[String]) -> Result<IgnoreSet, ModelError> {
        let cwd = std::env::current_dir().map_err(ModelError::CurrentDir)?;
        let model_resolved = walk::resolve(&cwd.join(&self.model_path));
        let mut set = IgnoreSet::new();
        for p in self.ignore_paths.iter().chain(&self.signature_path) {
            set.add_cli_path(p, &cwd, &model_resolved);
        }
        if self.ignore_git_paths {
            set.add_git_paths();
        }
        for p in recorded {
            set.add_relative(p);
        }
        Ok(set)
    }

    /// The model's name for messages.
    pub fn model_name(&self) -> String {
        walk::model_name(&self.model_path)
    }
}

/// Which files to hash.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// Walk the model.
    Walk,
    /// Only these signed file names (`--ignore_unsigned_files`).
    Listed(&'a [&'a str]),
}

/// A computed manifest and what it took.
#[derive(Debug, Clone)]
pub struct Computed {
    /// The manifest.
    pub manifest: Manifest,
    /// Files hashed.
    pub files: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// Wall time of walk + hashing.
    pub elapsed: Duration,
}

/// What the walk found, before any byte is read: one resource key and one work item per file
/// (or shard, from the file sizes).
#[derive(Debug)]
pub struct Plan {
    /// The resources, in walk order.
    pub keys: Vec<ResourceKey>,
    items: Vec<HashItem>,
    files: usize,
    started: Instant,
}

/// Walks (or lists) the model: names and sizes only, nothing is read.
pub(crate) fn plan(
    spec: &ModelSpec,
    ignore: &IgnoreSet,
    selection: Selection<'_>,
) -> Result<Plan, ModelError> {
    let started = Instant::now();
    let files = match selection {
        Selection::Walk => walk::walk(&spec.model_path, ignore, spec.allow_symlinks)?,
        Selection::Listed(names) => walk::listed(
            &spec.model_path,
            names.iter().copied(),
            ignore,
            spec.allow_symlinks,
        )?,
    };
    let files_count = files.len();
    let (keys, items) = work_items(files, spec.hashing.serialization);
    Ok(Plan {
        keys,
        items,
        files: files_count,
        started,
    })
}

/// Hashes what `plan` found into a manifest.
pub fn hash(spec: &ModelSpec, plan: Plan) -> Result<Computed, ModelError> {
    let Plan {
        keys,
        items,
        files,
        started,
    } = plan;
    let total: u64 = items.iter().map(|i| i.size_hint).sum();
    let progress = progress_bar(total);
    let digests = hash_items(&items, spec.hashing.algorithm, spec.direct_io, &progress)?;
    progress.finish_and_clear();
    let algorithm: std::sync::Arc<str> = spec.hashing.resource_algorithm().into();
    let mut manifest = Manifest::new(spec.model_name());
    let mut bytes = 0;
    for (key, d) in keys.into_iter().zip(digests) {
        bytes += d.bytes;
        manifest.resources.insert(
            key,
            Digest {
                algorithm: algorithm.clone(),
                value: d.digest,
            },
        );
    }
    Ok(Computed {
        manifest,
        files,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Walks (or lists) and hashes the model into a manifest.
pub fn compute(
    spec: &ModelSpec,
    ignore: &IgnoreSet,
    selection: Selection<'_>,
) -> Result<Computed, ModelError> {
    hash(spec, plan(spec, ignore, selection)?)
}

/// One work item per file, or per shard (an empty file has no shard). Consumes the walk's list
/// so names and paths move instead of being copied.
fn work_items(
    files: Vec<ModelFile>,
    serialization: Serialization,
) -> (Vec<ResourceKey>, Vec<HashItem>) {
    let mut keys = Vec::with_capacity(files.len());
    let mut items = Vec::with_capacity(files.len());
    for f in files {
        match serialization {
            Serialization::Files => {
                keys.push(ResourceKey::File(f.name));
                items.push(HashItem {
                    path: f.path,
                    start: 0,
                    end: None,
                    size_hint: f.size,
                });
            }
            Serialization::Shards { shard_size } => {
                for (start, end) in shard_ranges(f.size, shard_size) {
                    keys.push(ResourceKey::Shard {
                        name: f.name.clone(),
                        start,
                        end,
                    });
                    items.push(HashItem {
                        path: f.path.clone(),
                        start,
                        end: Some(end),
                        size_hint: end - start,
                    });
                }
            }
        }
    }
    (keys, items)
}

fn progress_bar(total: u64) -> ProgressBar {
    use std::io::IsTerminal;
    if total < PROGRESS_MIN_BYTES || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "hashing {bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// The in-toto statement to sign for a model, and its root digest.
#[derive(Debug, Clone)]
pub struct SigningPayload {
    /// The statement JSON (the DSSE payload).
    pub payload: Vec<u8>,
    /// Root digest, lower hex.
    pub root_digest: String,
    /// The manifest that was signed.
    pub manifest: Manifest,
}

/// Hashes the model and writes the statement a signer signs. The recorded `ignore_paths` are
/// the ignore set's entries inside the model (git names, the signature, `--ignore-paths`),
/// as `model_signing` 1.1.x records them (sorted here, so signing is reproducible).
pub fn signing_payload(spec: &ModelSpec) -> Result<SigningPayload, ModelError> {
    let ignore = spec.ignore_set(&[])?;
    let computed = compute(spec, &ignore, Selection::Walk)?;
    if computed.files == 0 || computed.manifest.resources.is_empty() {
        return Err(ModelError::EmptyModel {
            model: spec.model_path.clone(),
        });
    }
    let manifest = computed.manifest;
    let payload = crate::statement::write(
        &manifest,
        &spec.hashing,
        spec.allow_symlinks,
        &ignore.recorded(),
    );
    Ok(SigningPayload {
        payload,
        root_digest: hex::encode(manifest.root_digest()),
        manifest,
    })
}
