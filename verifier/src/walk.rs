//! Which files are in the manifest (format §1): the model walk and the ignore set.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::posix;

/// The four top-level names left out unless `--no-ignore-git-paths`.
pub(crate) const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// Why a path cannot be part of a model.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A symbolic link without `--allow_symlinks`.
    #[error(
        "Cannot use '{}' because it is a symlink. This behavior can be changed with `allow_symlinks`.",
        posix::shown(path)
    )]
    Symlink {
        /// The link, as built from the model path.
        path: PathBuf,
    },
    /// Missing, unreadable, or neither a regular file nor a directory (FIFO, socket, device,
    /// broken link).
    #[error(
        "Cannot use '{}' as file or directory. It could be a special file, it could be missing, or there might be a permission issue.",
        posix::shown(path)
    )]
    Unusable {
        /// The path, as built from the model path.
        path: PathBuf,
        /// What the file system said, when it said something.
        #[source]
        source: Option<io::Error>,
    },
    /// A name that JSON (and so the signature) cannot carry.
    #[error(
        "Cannot use '{}': the file name is not valid UTF-8",
        posix::shown(path)
    )]
    NonUtf8 {
        /// The path.
        path: PathBuf,
    },
    /// A signed resource name that would lead outside the model directory.
    #[error(
        "Signed resource '{}' points outside the model directory; it is never read",
        posix::escape_controls(name)
    )]
    OutsideModel {
        /// The name as signed (normalised).
        name: String,
    },
    /// A signed resource below a symbolic link to a directory (never part of a walked model).
    #[error(
        "Cannot use '{}': it lies below the symbolic link '{}' to a directory, which a model walk never enters",
        posix::shown(path),
        posix::shown(link)
    )]
    BelowSymlink {
        /// The signed file's path.
        path: PathBuf,
        /// The linked directory.
        link: PathBuf,
    },
}

/// A regular file of the model (or a link to one, with `--allow_symlinks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// The resource name: POSIX path relative to the model, `"."` for a single-file model.
    pub name: String,
    /// The path to open, as built from the model path.
    pub path: PathBuf,
    /// Size in bytes when walked.
    pub size: u64,
}

/// Paths left out of the manifest, as component lists relative to the model. A path is ignored
/// when one of these is a component-wise prefix of it (`weights` ignores `weights/x`, not
/// `weights.txt`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreSet {
    prefixes: Vec<Vec<String>>,
}

impl IgnoreSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a name relative to the model (the signature's `ignore_paths`, the git names).
    /// Absolute names are skipped; `..` components are kept and so never match.
    pub(crate) fn add_relative(&mut self, name: &str) {
        let norm = posix::normalize(name);
        if norm.starts_with('/') {
            return;
        }
        self.add_components(posix::components(&norm).map(str::to_owned).collect());
    }

    fn add_components(&mut self, comps: Vec<String>) {
        if !self.prefixes.contains(&comps) {
            self.prefixes.push(comps);
        }
    }

    /// Adds a command-line path with `model_signing`'s CLI semantics: relative to `cwd`,
    /// resolved (symlinks followed), made relative to the resolved model path, and silently
    /// dropped when it is not inside the model.
    pub(crate) fn add_cli_path(&mut self, path: &Path, cwd: &Path, model_resolved: &Path) {
        let resolved = resolve(&cwd.join(path));
        if let Ok(rel) = resolved.strip_prefix(model_resolved) {
            let comps: Option<Vec<String>> = rel
                .components()
                .map(|c| c.as_os_str().to_str().map(str::to_owned))
                .collect();
            if let Some(comps) = comps {
                self.add_components(comps);
            }
        }
    }

    /// The top-level git names.
    pub(crate) fn add_git_paths(&mut self) {
        for p in GIT_PATHS {
            self.add_relative(p);
        }
    }

    /// Whether a path (components relative to the model) is ignored.
    pub(crate) fn is_ignored<S: AsRef<str>>(&self, comps: &[S]) -> bool {
        self.prefixes
            .iter()
            .any(|p| p.len() <= comps.len() && p.iter().zip(comps).all(|(a, b)| a == b.as_ref()))
    }

    /// The names as recorded in a signature's `ignore_paths` (sorted, `.` for the model itself).
    pub fn recorded(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .prefixes
            .iter()
            .map(|p| {
                if p.is_empty() {
                    ".".to_owned()
                } else {
                    p.join("/")
                }
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// `os.path.realpath` (Python 3.11, non-strict): absolute, symlinks resolved as far as the
/// path exists, `..` applied after resolving what precedes it, missing tails kept as written.
pub fn resolve(path: &Path) -> PathBuf {
    let mut budget = 40u32;
    let mut out = PathBuf::from("/");
    resolve_into(&mut out, path, &mut budget);
    out
}

fn resolve_into(out: &mut PathBuf, path: &Path, budget: &mut u32) {
    for comp in path.components() {
        match comp {
            Component::RootDir | Component::Prefix(_) => *out = PathBuf::from("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                let candidate = out.join(name);
                match fs::read_link(&candidate) {
                    Ok(target) if *budget > 0 => {
                        *budget -= 1;
                        // A relative target is relative to the link's directory (`out`).
                        resolve_into(out, &target, budget);
                    }
                    _ => *out = candidate,
                }
            }
        }
    }
}

/// The model's name for messages (`Path.name`, or the resolved directory's name for `.`, `..`).
pub fn model_name(model_path: &Path) -> String {
    let direct = match model_path.components().next_back() {
        Some(Component::Normal(n)) => n.to_str().map(str::to_owned),
        _ => None,
    };
    direct.unwrap_or_else(|| {
        resolve(&std::env::current_dir().unwrap_or_default().join(model_path))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

fn unusable(path: &Path, source: Option<io::Error>) -> WalkError {
    WalkError::Unusable {
        path: path.to_owned(),
        source,
    }
}

/// What a path is, after the symlink rule.
enum Kind {
    File(u64),
    Dir,
}

/// Classifies a path: regular file, directory, or an error (symlink without permission, special
/// file, missing, unreadable). A symlink to a directory is `Dir` (and not entered).
fn classify(path: &Path, allow_symlinks: bool) -> Result<Kind, WalkError> {
    let meta = fs::symlink_metadata(path).map_err(|e| unusable(path, Some(e)))?;
    let meta = if meta.file_type().is_symlink() {
        if !allow_symlinks {
            return Err(WalkError::Symlink {
                path: path.to_owned(),
            });
        }
        fs::metadata(path).map_err(|e| unusable(path, Some(e)))?
    } else {
        meta
    };
    if meta.is_file() {
        Ok(Kind::File(meta.len()))
    } else if meta.is_dir() {
        Ok(Kind::Dir)
    } else {
        Err(unusable(path, None))
    }
}

fn utf8_components(rel: &Path, full: &Path) -> Result<Vec<String>, WalkError> {
    rel.components()
        .map(|c| {
            c.as_os_str()
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| WalkError::NonUtf8 {
                    path: full.to_owned(),
                })
        })
        .collect()
}

/// Walks the model: every regular file below `model_path` (hidden ones too), or the file itself
/// for a single-file model. Ignored paths are skipped before they are checked (upstream HEAD),
/// and ignored directories are not entered. The result is in no particular order.
pub fn walk(
    model_path: &Path,
    ignore: &IgnoreSet,
    allow_symlinks: bool,
) -> Result<Vec<ModelFile>, WalkError> {
    let no_comps: [&str; 0] = [];
    if ignore.is_ignored(&no_comps) {
        return Ok(Vec::new());
    }
    match classify(model_path, allow_symlinks)? {
        Kind::File(size) => {
            return Ok(vec![ModelFile {
                name: ".".into(),
                path: model_path.to_owned(),
                size,
            }]);
        }
        Kind::Dir => {}
    }
    let mut files = Vec::new();
    // Sorted so that the first error reported does not depend on the directory's order.
    let mut it = walkdir::WalkDir::new(model_path)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = it.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(model_path).to_owned();
                return Err(unusable(&path, e.into_io_error()));
            }
        };
        let path = entry.path();
        let rel = path.strip_prefix(model_path).unwrap_or(path);
        let comps = utf8_components(rel, path)?;
        if ignore.is_ignored(&comps) {
            if entry.file_type().is_dir() {
                it.skip_current_dir();
            }
            continue;
        }
        match classify(path, allow_symlinks)? {
            Kind::File(size) => files.push(ModelFile {
                name: comps.join("/"),
                path: path.to_owned(),
                size,
            }),
            // Real directories are entered by the walk; linked ones never are.
            Kind::Dir => {}
        }
    }
    Ok(files)
}

/// The files named by a signature (`--ignore_unsigned_files`): each signed name under the model,
/// checked like a walked file. A name leading outside the model, or through a symbolic link to
/// a directory, is refused: the walk would never have found it. Directories are skipped (they
/// later show up as missing).
pub fn listed<'a>(
    model_path: &Path,
    names: impl IntoIterator<Item = &'a str>,
    ignore: &IgnoreSet,
    allow_symlinks: bool,
) -> Result<Vec<ModelFile>, WalkError> {
    let mut files: Vec<ModelFile> = Vec::new();
    for name in names {
        let name = posix::normalize(name);
        if !posix::is_contained(&name) {
            return Err(WalkError::OutsideModel { name });
        }
        let comps: Vec<&str> = posix::components(&name).collect();
        if ignore.is_ignored(&comps) || files.iter().any(|f| f.name == name) {
            continue;
        }
        let mut path = model_path.to_owned();
        for (i, c) in comps.iter().enumerate() {
            path.push(c);
            if i + 1 < comps.len()
                && fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(WalkError::BelowSymlink {
                    path: model_path.join(&name),
                    link: path,
                });
            }
        }
        if comps.is_empty() && fs::symlink_metadata(model_path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        if let Kind::File(size) = classify(&path, allow_symlinks)? {
            files.push(ModelFile { name, path, size });
        }
    }
    Ok(files)
}
