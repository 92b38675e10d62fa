//! One check of a watched model: full (signature, walk, hash everything) or cheap (stat the
//! signature and the trust material, walk the model's metadata, read only what changed).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use crate::hashing::{HashItem, Serialization, hash_items, shard_ranges};
use crate::manifest::{Digest, Manifest, ResourceKey};
use crate::method::SignatureVerifier;
use crate::verify::{SignedModel, VerifyError, VerifyOptions, verify_signature};

use super::held::{Held, path_of};
use super::names::NameWatch;
use super::scan::{self, Scan, ScanError, now_ns, stamp};
use super::snapshot::{Change, ChangeKind, FileStamp, diff};

/// At most this many file names are carried in a verdict (the count says how many there are).
pub const MAX_NAMED_FILES: usize = 20;

/// How much work a check may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// Re-verify the signature, walk and hash the whole model.
    Full,
    /// Stat the signature, the trust material and the model; read only what changed.
    Cheap,
    /// `--skip-initial`: verify the signature and take the model's metadata, trusting that its
    /// content was verified just before (by a one-shot init container).
    Baseline,
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The model matches its signature.
    Verified,
    /// It does not, or it could not be checked.
    Failed(Failure),
}

/// Why a check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The class: `signature-invalid`, `model-mismatch`, `model-unreadable`, … (as `verify`).
    pub kind: &'static str,
    /// The message `verify` prints after `Verification failed with error: `.
    pub reason: String,
    /// The files that differ or could not be read (at most [`MAX_NAMED_FILES`]).
    pub files: Vec<String>,
    /// How many files differ or could not be read.
    pub file_count: usize,
}

/// What a check did and found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the whole model was hashed.
    pub full: bool,
    /// Whether the signature was verified again (its file or the trust material changed).
    pub signature_checked: bool,
    /// Files the metadata walk found changed (empty after a full check).
    pub changes: Vec<Change>,
    /// Whether the model's metadata was looked at through held descriptors (no path walk).
    pub held: bool,
    /// Files read and bytes hashed by this check.
    pub files_read: usize,
    /// Bytes hashed by this check.
    pub bytes_read: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// The stamps of the signature file and the trust material (following links, so that a
/// Kubernetes Secret or ConfigMap update, a link swap, shows).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TrustStamp {
    stamps: Vec<Option<FileStamp>>,
    taken_ns: i128,
}

impl TrustStamp {
    fn take(paths: &[PathBuf]) -> Self {
        let taken_ns = now_ns();
        Self {
            stamps: paths
                .iter()
                .map(|p| fs::metadata(p).ok().map(|m| stamp(&m)))
                .collect(),
            taken_ns,
        }
    }

    /// Whether `now` shows the same files, none of them changed within the timestamp granularity.
    fn still(&self, now: &Self) -> bool {
        self.stamps == now.stamps
            && !self
                .stamps
                .iter()
                .flatten()
                .any(|s| s.is_racy(self.taken_ns))
    }
}

#[derive(Debug)]
struct ModelState {
    /// The local manifest as last computed (updated file by file); `None` while it equals the
    /// signed one (so a verified model keeps one manifest in memory, not two).
    local: Option<Manifest>,
    /// The metadata it was computed from; `None` when the metadata walk could not decide.
    scan: Option<Scan>,
    /// The comparison of `local` with the signed manifest.
    verdict: Verdict,
    /// Descriptors for the files of `scan`, in its order, when they may be used.
    held: Option<Held>,
    /// Whether the last walk was not watched from before it (walking again now may hold).
    unwatched: bool,
}

/// The state kept between checks of one model.
#[derive(Debug)]
pub struct Checker<F> {
    args: VerifyOptions,
    trust_paths: Vec<PathBuf>,
    make_verifier: F,
    signed: Option<(SignedModel, TrustStamp)>,
    model: Option<ModelState>,
    /// Whether to hold descriptors (and watch names) at all.
    hold: bool,
    names: Option<NameWatch>,
}

impl<F> Checker<F> {
    /// The signature file and the trust material.
    pub fn trust_paths(&self) -> &[PathBuf] {
        &self.trust_paths
    }

    /// Directories that hold the model's files, as last walked.
    pub fn model_dirs(&self) -> Vec<PathBuf> {
        self.model
            .as_ref()
            .and_then(|m| m.scan.as_ref())
            .map(|s| s.dirs.clone())
            .unwrap_or_default()
    }

    /// The signature that last verified.
    pub fn signed(&self) -> Option<&SignedModel> {
        self.signed.as_ref().map(|(s, _)| s)
    }

    /// `sha256:<hex>` of the local manifest, files and bytes, when the model last verified.
    pub fn summary(&self) -> Option<(String, u64, u64)> {
        let m = self.model.as_ref()?;
        if m.verdict != Verdict::Verified {
            return None;
        }
        let (signed, _) = self.signed.as_ref()?;
        let local = m.local.as_ref().unwrap_or(&signed.expected);
        let digest = format!("sha256:{}", hex::encode(local.root_digest()));
        let (files, bytes) = m.scan.as_ref().map_or((0, 0), |s| {
            let e = &s.snapshot.entries;
            (e.len() as u64, e.iter().map(|(_, st)| st.file.size).sum())
        });
        Some((digest, files, bytes))
    }
}

impl<V, F> Checker<F>
where
    V: SignatureVerifier,
    F: FnMut() -> Result<V, String>,
{
    /// A checker for the model and signature of `args`. `trust_paths` are the files the
    /// verifier is built from (key, certificates, trust config); `make_verifier` builds it.
    pub fn new(args: VerifyOptions, trust_paths: Vec<PathBuf>, make_verifier: F) -> Self {
        let mut watched = vec![args.signature.clone()];
        watched.extend(trust_paths);
        Self {
            args,
            trust_paths: watched,
            make_verifier,
            signed: None,
            model: None,
            hold: true,
            names: None,
        }
    }

    /// Whether to re-check through held descriptors where sound (the default; `false` walks
    /// paths at every check, as `--no-inotify` does).
    pub fn hold_files(mut self, on: bool) -> Self {
        self.hold = on;
        self
    }

    /// Runs one check.
    pub fn check(&mut self, mode: CheckMode) -> CheckReport {
        let started = Instant::now();
        let mut report = CheckReport {
            verdict: Verdict::Verified,
            full: false,
            signature_checked: false,
            changes: Vec::new(),
            held: false,
            files_read: 0,
            bytes_read: 0,
            elapsed: Duration::ZERO,
        };
        let verdict = self.run(mode, &mut report);
        report.verdict = verdict;
        if report.files_read > 0 || report.signature_checked {
            super::trim::release_free_memory();
        }
        report.elapsed = started.elapsed();
        report
    }

    fn run(&mut self, mode: CheckMode, report: &mut CheckReport) -> Verdict {
        let trust = TrustStamp::take(&self.trust_paths);
        let unchanged = self.signed.as_ref().is_some_and(|(_, t)| t.still(&trust));
        if mode == CheckMode::Full || !unchanged {
            report.signature_checked = true;
            if let Err(failure) = self.reverify(trust) {
                return Verdict::Failed(failure);
            }
        }
        let Some((signed, _)) = &self.signed else {
            return Verdict::Failed(failure("signature-invalid", "no signature".into()));
        };
        if self.hold && self.names.is_none() {
            match NameWatch::new() {
                Ok(names) => self.names = Some(names),
                Err(e) => {
                    tracing::debug!(error = %e, "no inotify: walking paths at every check");
                    self.hold = false;
                }
            }
        }
        let mut names = self.names.as_mut();
        // Descriptors held for the old state go before anything else is looked at.
        let old = self.model.take();
        let mut state = match (mode, old) {
            (CheckMode::Full, old) | (CheckMode::Cheap, old @ None) => {
                drop(old);
                full(signed, report, names.as_deref_mut())
            }
            (CheckMode::Baseline, None) => baseline(signed, names.as_deref_mut())
                .unwrap_or_else(|| full(signed, report, names.as_deref_mut())),
            (_, Some(state)) => cheap(signed, state, report, names.as_deref_mut()),
        };
        if let (Ok(state), Some(names)) = (&mut state, names) {
            hold_after_first_walk(signed, state, names);
        }
        let verdict = state
            .as_ref()
            .map_or_else(|f| Verdict::Failed(f.clone()), |s| s.verdict.clone());
        self.model = state.ok();
        verdict
    }

    /// Builds the verifier and checks the signature; a new signed manifest drops the model state.
    fn reverify(&mut self, trust: TrustStamp) -> Result<(), Failure> {
        let result = (self.make_verifier)()
            .map_err(|reason| failure("usage-invalid", reason))
            .and_then(|v| {
                verify_signature(&v, &self.args).map_err(|e| failure(e.kind(), e.to_string()))
            });
        match result {
            Ok(new) => {
                let same = self.signed.as_ref().is_some_and(|(old, _)| {
                    old.expected == new.expected
                        && old.spec == new.spec
                        && old.ignore == new.ignore
                        && old.listed == new.listed
                });
                if !same {
                    self.model = None;
                }
                self.signed = Some((new, trust));
                Ok(())
            }
            Err(f) => {
                self.signed = None;
                self.model = None;
                Err(f)
            }
        }
    }
}

/// The directories a snapshot depends on: those the walk entered and every directory on the
/// way from the model path to each file.
fn needed_dirs(model_path: &Path, scan: &Scan) -> Vec<PathBuf> {
    let mut dirs: BTreeSet<PathBuf> = scan.dirs.iter().cloned().collect();
    for (name, _) in &scan.snapshot.entries {
        if name == "." {
            continue;
        }
        dirs.insert(model_path.to_owned());
        let mut path = model_path.to_owned();
        let mut parts = name.split('/').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                break;
            }
            path.push(part);
            dirs.insert(path.clone());
        }
    }
    dirs.into_iter().collect()
}

/// The path walk. With a name watch: what happened before is drained, the directories known
/// so far are watched again, the walk runs, and descriptors are opened after it only when every
/// directory it depends on was watched from before it and nothing happened meanwhile (see
/// [`super::held`]); the directories it found are watched for the next check.
fn walk_paths(signed: &SignedModel, names: Option<&mut NameWatch>) -> Walked {
    let Some(names) = names else {
        return Walked {
            scan: scan::scan(signed),
            held: None,
            unwatched: false,
        };
    };
    names.quiet();
    names.resync();
    let scanned = scan::scan(signed);
    let Ok(scan) = &scanned else {
        return Walked {
            scan: scanned,
            held: None,
            unwatched: false,
        };
    };
    let model_path = &signed.spec.model_path;
    let dirs = needed_dirs(model_path, scan);
    let covered = names.covers(dirs.iter().map(PathBuf::as_path));
    let quiet = names.quiet();
    names.sync(&dirs);
    let held = if covered && quiet {
        Held::open(model_path, &scan.snapshot, &dirs)
            .map_err(|e| tracing::debug!(reason = %e, "walking paths at every check"))
            .ok()
    } else {
        None
    };
    Walked {
        scan: scanned,
        held,
        unwatched: !(covered && quiet),
    }
}

/// A path walk and the descriptors opened after it.
struct Walked {
    scan: Result<Scan, ScanError>,
    held: Option<Held>,
    /// Not held because a directory was not watched from before the walk, or something
    /// happened during it.
    unwatched: bool,
}

fn failure(kind: &'static str, reason: String) -> Failure {
    Failure {
        kind,
        reason,
        files: Vec::new(),
        file_count: 0,
    }
}

fn named(mut failure: Failure, names: impl IntoIterator<Item = String>) -> Failure {
    let names: Vec<String> = names.into_iter().collect();
    failure.file_count = names.len();
    failure.files = names.into_iter().take(MAX_NAMED_FILES).collect();
    failure
}

/// Compares a local manifest with the signed one.
fn compare(local: &Manifest, expected: &Manifest) -> Verdict {
    match local.check_against(expected) {
        Ok(()) => Verdict::Verified,
        Err(mismatch) => Verdict::Failed(named(
            failure("model-mismatch", mismatch.message),
            drifted_files(local, expected),
        )),
    }
}

/// The files whose resources differ between two manifests, in name order.
pub fn drifted_files(local: &Manifest, expected: &Manifest) -> BTreeSet<String> {
    let differs = |a: &Manifest, b: &Manifest| {
        a.resources
            .iter()
            .filter(|(k, d)| b.resources.get(*k) != Some(*d))
            .map(|(k, _)| k.file_name().to_owned())
            .collect::<Vec<_>>()
    };
    let mut out: BTreeSet<String> = differs(local, expected).into_iter().collect();
    out.extend(differs(expected, local));
    out
}

/// Walks and hashes everything; the metadata is taken first, so a change during the hashing
/// shows at the next check.
fn full(
    signed: &SignedModel,
    report: &mut CheckReport,
    names: Option<&mut NameWatch>,
) -> Result<ModelState, Failure> {
    report.full = true;
    let walked = walk_paths(signed, names);
    let scan = walked.scan.ok();
    match signed.compute() {
        Ok(computed) => {
            report.files_read = computed.files;
            report.bytes_read = computed.bytes;
            let verdict = compare(&computed.manifest, &signed.expected);
            let local = (verdict != Verdict::Verified).then_some(computed.manifest);
            Ok(ModelState {
                local,
                held: walked.held.filter(|_| scan.is_some()),
                unwatched: walked.unwatched,
                scan,
                verdict,
            })
        }
        Err(e) => {
            let e = VerifyError::Model(e);
            Err(failure(e.kind(), e.to_string()))
        }
    }
}

/// `--skip-initial`: the model is taken to be as signed; only its metadata is recorded.
fn baseline(
    signed: &SignedModel,
    names: Option<&mut NameWatch>,
) -> Option<Result<ModelState, Failure>> {
    let walked = walk_paths(signed, names);
    Some(Ok(ModelState {
        local: None,
        scan: Some(walked.scan.ok()?),
        verdict: Verdict::Verified,
        held: walked.held,
        unwatched: walked.unwatched,
    }))
}

/// After a walk whose directories were not all watched from before it (the first one, or one
/// that found new directories), walks once more, now watched, and holds descriptors when it
/// finds exactly the same names and stamps: the steady state from the next check on, not from
/// the one after.
fn hold_after_first_walk(signed: &SignedModel, state: &mut ModelState, names: &mut NameWatch) {
    if !std::mem::take(&mut state.unwatched) {
        return;
    }
    let Some(scan) = state.scan.as_ref().filter(|_| state.held.is_none()) else {
        return;
    };
    let again = walk_paths(signed, Some(names));
    if let (Ok(again), Some(held)) = (again.scan, again.held)
        && again.snapshot.entries == scan.snapshot.entries
    {
        state.held = Some(held);
    }
}

/// Looks at the files through the held descriptors, when nothing may have changed a name since
/// they were opened (see [`super::held`]): the changes, with the snapshot taking the new stamps.
fn through_held(
    model_path: &Path,
    state: &ModelState,
    scan: &mut Scan,
    names: Option<&mut NameWatch>,
) -> Option<Vec<Change>> {
    let held = state.held.as_ref()?;
    if !names?.quiet() || !held.root_unchanged(model_path) {
        return None;
    }
    scan.snapshot.restamp(|i| held.look(i), now_ns())
}

/// Walks the metadata and reads only the files that changed.
fn cheap(
    signed: &SignedModel,
    mut state: ModelState,
    report: &mut CheckReport,
    mut names: Option<&mut NameWatch>,
) -> Result<ModelState, Failure> {
    let Some(mut old) = state.scan.take() else {
        drop(state);
        return full(signed, report, names);
    };
    let spec = &signed.spec;
    let (mut new, changes) =
        match through_held(&spec.model_path, &state, &mut old, names.as_deref_mut()) {
            Some(changes) => {
                report.held = true;
                (old, changes)
            }
            None => {
                state.held = None;
                let walked = walk_paths(signed, names.as_deref_mut());
                let Ok(new) = walked.scan else {
                    // Something the walk refuses: the full verification says exactly what.
                    drop(state);
                    return full(signed, report, names);
                };
                state.held = walked.held;
                state.unwatched = walked.unwatched;
                let changes = diff(&old.snapshot, &new.snapshot);
                (new, changes)
            }
        };
    if changes.is_empty() {
        state.scan = Some(new);
        return Ok(state);
    }
    let mut keys = Vec::new();
    let mut items = Vec::new();
    let stamps = new.snapshot.index();
    for c in changes.iter().filter(|c| c.kind != ChangeKind::Removed) {
        let Some(entry) = stamps.get(c.name.as_str()) else {
            continue;
        };
        let path = path_of(&spec.model_path, &c.name);
        match spec.hashing.serialization {
            Serialization::Files => {
                keys.push(ResourceKey::File(c.name.clone()));
                items.push(HashItem {
                    path,
                    start: 0,
                    end: None,
                    size_hint: entry.file.size,
                });
            }
            Serialization::Shards { shard_size } => {
                for (start, end) in shard_ranges(entry.file.size, shard_size) {
                    keys.push(ResourceKey::Shard {
                        name: c.name.clone(),
                        start,
                        end,
                    });
                    items.push(HashItem {
                        path: path.clone(),
                        start,
                        end: Some(end),
                        size_hint: end - start,
                    });
                }
            }
        }
    }
    let changed: BTreeSet<&str> = changes.iter().map(|c| c.name.as_str()).collect();
    report.files_read = changes
        .iter()
        .filter(|c| c.kind != ChangeKind::Removed)
        .count();
    report.changes = changes.clone();
    match hash_items(
        &items,
        spec.hashing.algorithm,
        spec.direct_io,
        &ProgressBar::hidden(),
    ) {
        Ok(digests) => {
            let local = state.local.get_or_insert_with(|| {
                let mut m = signed.expected.clone();
                m.model_name = spec.model_name();
                m
            });
            local
                .resources
                .retain(|k, _| !changed.contains(k.file_name()));
            let algorithm: std::sync::Arc<str> = spec.hashing.resource_algorithm().into();
            for (key, d) in keys.into_iter().zip(digests) {
                report.bytes_read += d.bytes;
                local.resources.insert(
                    key,
                    Digest {
                        algorithm: algorithm.clone(),
                        value: d.digest,
                    },
                );
            }
            state.verdict = compare(local, &signed.expected);
            if state.verdict == Verdict::Verified {
                state.local = None;
            }
        }
        Err(e) => {
            // Read them again at the next check, whatever their metadata says then (the
            // descriptors follow the snapshot's entries: they go too).
            new.snapshot.forget(&changed);
            state.held = None;
            let e = VerifyError::Model(e.into());
            state.verdict = Verdict::Failed(named(
                failure(e.kind(), e.to_string()),
                changed.iter().map(|n| (*n).to_owned()),
            ));
        }
    }
    state.scan = Some(new);
    Ok(state)
}
