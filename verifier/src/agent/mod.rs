//! `watch` (and its `validation-agent` spelling, upstream's continuous-validation agent):
//! verify, then keep checking, with probes for the kubelet.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

mod report;
use model_verifier::method::SignatureVerifier;
use model_verifier::posix::pathlib;
use model_verifier::verify::VerifyOptions;
use model_verifier::watch::check::{CheckMode, Checker};
use model_verifier::watch::inotify::DirWatch;
use model_verifier::watch::interval::parse_interval;
use model_verifier::watch::probe_server::{self, ProbeState};
use mv_shared::verify::VerifyMethod;

use crate::cli;

/// The program name upstream's operator runs in continuous mode.
pub(crate) const AGENT_NAME: &str = "validation-agent";

/// After an inotify event, wait this long for more before checking.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// But never longer than this after the first event (a file being written for a long time).
const MAX_DEBOUNCE: Duration = Duration::from_secs(1);

/// `watch [options] verify METHOD MODEL_PATH --signature PATH ...`
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// How often to check: a duration like `5m`, `1h30m`, `1.5h` (upstream's syntax; `s` is
    /// accepted too, as an extension for tests). At least 1s.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = interval_arg)]
    pub(crate) interval: Duration,
    /// Hash the whole model (and verify the signature) every N checks; between them only
    /// changed files are read. 1: every check is full (upstream's agent); 0: never after the
    /// first.
    #[arg(long = "full-every", value_name = "N", default_value_t = 12)]
    pub(crate) full_every: u32,
    /// Port of the probe server (`GET /ready`, `GET /healthz`) on all interfaces; 0 picks a free
    /// one (printed on stderr).
    #[arg(long = "health-port", value_name = "PORT", default_value_t = 8080)]
    pub(crate) health_port: u16,
    /// Do not hash the model at start (a one-shot init container has just verified it): verify
    /// the signature, record the model's metadata, be ready, and hash everything at the first
    /// interval.
    #[arg(
        long = "skip-initial",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false",
        value_parser = go_bool,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    pub(crate) skip_initial: bool,
    /// Extension: do not use inotify; check at the interval only.
    #[arg(long = "no-inotify")]
    pub(crate) no_inotify: bool,
    #[command(subcommand)]
    pub(crate) command: WatchCommand,
}

/// What to verify.
#[derive(Debug, Subcommand)]
pub(crate) enum WatchCommand {
    /// The model and signature, with `verify`'s methods and flags.
    Verify {
        #[command(subcommand)]
        method: VerifyMethod,
    },
}

fn interval_arg(text: &str) -> Result<Duration, String> {
    parse_interval(text).map_err(|e| e.to_string())
}

/// Go's `strconv.ParseBool`, as upstream's agent takes `--skip-initial=true`.
fn go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean '{text}' (true or false)")),
    }
}

/// The flags of `watch` that take a value (Go's flag package also spells them with one dash).
const VALUE_FLAGS: [&str; 4] = ["interval", "full-every", "health-port", "log-level"];
const BOOL_FLAGS: [&str; 2] = ["skip-initial", "no-inotify"];

/// Rewrites the arguments that follow `watch` (from index `at`): Go's single-dash spellings of
/// the agent's flags get two dashes, `verify` is inserted when the method comes directly, and a
/// missing method means `sigstore` (as for `verify`).
pub(crate) fn normalize_args(mut args: Vec<OsString>, at: usize) -> Vec<OsString> {
    let mut i = at;
    while i < args.len() {
        let Some(text) = args[i].to_str().map(str::to_owned) else {
            break;
        };
        if !text.starts_with('-') || text == "-" || text == "--" {
            break;
        }
        let name = text.trim_start_matches('-');
        let bare = name.split('=').next().unwrap_or_default();
        if !text.starts_with("--") && (VALUE_FLAGS.contains(&bare) || BOOL_FLAGS.contains(&bare)) {
            args[i] = OsString::from(format!("-{text}"));
        }
        i += if VALUE_FLAGS.contains(&bare) && !name.contains('=') {
            2
        } else {
            1
        };
    }
    if i >= args.len() {
        return args;
    }
    let rest = args.split_off(i);
    let rest = match rest.split_first() {
        Some((first, tail)) if first == "verify" => tail.to_vec(),
        _ => rest,
    };
    if rest.first().is_some_and(|a| a != "help") {
        args.push("verify".into());
    }
    args.extend(mv_shared::verify::default_method(rest));
    args
}

/// `watch …` / `validation-agent …`.
pub(crate) fn watch(args: WatchArgs) -> ExitCode {
    // Before any thread: one malloc arena keeps the idle heap small (see `watch::trim`).
    model_verifier::watch::trim::single_arena();
    let WatchCommand::Verify { method } = &args.command;
    let options = match cli::verify_options(method.common()) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{AGENT_NAME}: {e}");
            return ExitCode::from(2);
        }
    };
    match method {
        VerifyMethod::Sigstore(a) => run(&args, options, a.trust_config.iter().cloned(), || {
            cli::sigstore_verifier(a).map_err(|e| e.to_string())
        }),
        VerifyMethod::Key(a) => run(&args, options, a.public_keys.clone(), || {
            cli::key_verifier(a).map_err(|e| e.to_string())
        }),
        VerifyMethod::Certificate(a) => {
            run(&args, options, cli::certificate_trust_paths(a), || {
                cli::certificate_verifier(a).map_err(|e| e.to_string())
            })
        }
    }
}

/// Starts the inotify watcher that wakes the main loop; `None` (said on stderr) when inotify is
/// not available.
fn start_inotify(tx: &mpsc::Sender<Wake>, interval: Duration) -> Option<DirWatch> {
    let (notify, failed) = (tx.clone(), tx.clone());
    match DirWatch::start(
        move || {
            let _ = notify.send(Wake::Changed);
        },
        move |e| {
            let _ = failed.send(Wake::InotifyFailed(e));
        },
    ) {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!(
                "{AGENT_NAME}: inotify is not available ({e}); checking every {} only",
                show_duration(interval)
            );
            None
        }
    }
}

/// Why the main loop woke up.
enum Wake {
    /// inotify saw something.
    Changed,
    /// inotify stopped working.
    InotifyFailed(std::io::Error),
}

fn run<V, F>(
    args: &WatchArgs,
    options: VerifyOptions,
    trust: impl IntoIterator<Item = PathBuf>,
    make_verifier: F,
) -> ExitCode
where
    V: SignatureVerifier,
    F: FnMut() -> Result<V, String>,
{
    let WatchCommand::Verify { method } = &args.command;
    let trust: Vec<PathBuf> = trust.into_iter().map(|p| pathlib(&p)).collect();
    let probes = Arc::new(ProbeState::default());
    let addr = match probe_server::serve(args.health_port, probes.clone()) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!(
                "{AGENT_NAME}: cannot listen for probes on port {}: {e}",
                args.health_port
            );
            return ExitCode::from(1);
        }
    };
    if let Err(e) = exit_on_signals() {
        eprintln!("{AGENT_NAME}: cannot handle SIGTERM/SIGINT: {e}");
        return ExitCode::from(1);
    }
    eprintln!("{AGENT_NAME}: probes listening on {addr} (GET /ready, GET /healthz)");

    let (tx, rx) = mpsc::channel::<Wake>();
    let mut dir_watch = if args.no_inotify {
        None
    } else {
        start_inotify(&tx, args.interval)
    };

    let model_path = options.model_path.clone();
    let mut reporter = report::Reporter::new(method.name(), model_path.clone(), method.common());
    // Held descriptors rely on the checker's own inotify watch: not with `--no-inotify`.
    let mut checker = Checker::new(options, trust, make_verifier).hold_files(!args.no_inotify);
    let mode = if args.skip_initial {
        CheckMode::Baseline
    } else {
        CheckMode::Full
    };
    let report = checker.check(mode);
    reporter.update(
        &report,
        if args.skip_initial {
            "baseline"
        } else {
            "initial"
        },
        &checker,
    );
    probes.set_ready(reporter.ready());
    let watched = sync_watches(&mut dir_watch, &checker, &model_path);
    tracing::info!(
        interval = %show_duration(args.interval),
        full_every = args.full_every,
        inotify_dirs = watched,
        "watching"
    );

    let mut ticks: u64 = 0;
    let mut next = Instant::now() + args.interval;
    loop {
        let (mode, trigger) = match rx.recv_timeout(next.saturating_duration_since(Instant::now()))
        {
            Ok(Wake::Changed) => {
                debounce(&rx);
                (CheckMode::Cheap, "inotify")
            }
            Ok(Wake::InotifyFailed(e)) => {
                eprintln!(
                    "{AGENT_NAME}: inotify stopped ({e}); checking every {} only",
                    show_duration(args.interval)
                );
                dir_watch = None;
                continue;
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                ticks += 1;
                next += args.interval;
                let now = Instant::now();
                if next < now {
                    next = now + args.interval;
                }
                let full = (args.skip_initial && ticks == 1)
                    || (args.full_every > 0 && ticks.is_multiple_of(u64::from(args.full_every)));
                if full {
                    (CheckMode::Full, "full")
                } else {
                    (CheckMode::Cheap, "interval")
                }
            }
        };
        let report = checker.check(mode);
        tracing::debug!(
            trigger,
            full = report.full,
            signature = report.signature_checked,
            changed = report.changes.len(),
            held = report.held,
            files_read = report.files_read,
            bytes_read = report.bytes_read,
            ms = report.elapsed.as_secs_f64() * 1000.0,
            "check"
        );
        reporter.update(&report, trigger, &checker);
        probes.set_ready(reporter.ready());
        sync_watches(&mut dir_watch, &checker, &model_path);
    }
}

/// Drains the events that follow within [`DEBOUNCE`] of each other (at most [`MAX_DEBOUNCE`]).
fn debounce(rx: &mpsc::Receiver<Wake>) {
    let started = Instant::now();
    while started.elapsed() < MAX_DEBOUNCE {
        match rx.recv_timeout(DEBOUNCE) {
            Ok(Wake::Changed) => {}
            Ok(Wake::InotifyFailed(_)) | Err(_) => break,
        }
    }
}

/// Watches the model's directories, its parent (the model may vanish and come back) and the
/// directories of the signature and the trust material (a Secret update swaps a link there).
fn sync_watches<F>(watch: &mut Option<DirWatch>, checker: &Checker<F>, model: &Path) -> usize {
    let Some(watch) = watch else { return 0 };
    let parent = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut dirs = checker.model_dirs();
    dirs.push(parent(model));
    if model.is_dir() {
        dirs.push(model.to_path_buf());
    }
    dirs.extend(checker.trust_paths().iter().map(|p| parent(p)));
    dirs.sort();
    dirs.dedup();
    watch.sync(dirs.iter().map(PathBuf::as_path))
}

/// SIGTERM and SIGINT end the process with status 0, after any output being written.
fn exit_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(64 << 10)
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let _guard = report::OUTPUT.lock();
                let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
                eprintln!("{AGENT_NAME}: received {name}, exiting");
                std::process::exit(0);
            }
        })?;
    Ok(())
}

fn show_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 && d.as_secs().is_multiple_of(60) {
        format!("{}m", d.as_secs() / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        normalize_args(args, 2)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn agent_flags_in_go_spellings_and_implicit_verify_are_normalized() {
        let cases: [(&[&str], &[&str]); 6] = [
            (
                &["x", "watch", "--interval=5m", "verify", "key", "m"],
                &["x", "watch", "--interval=5m", "verify", "key", "m"],
            ),
            (
                &[
                    "x",
                    "watch",
                    "-interval",
                    "5m",
                    "-skip-initial",
                    "verify",
                    "m",
                ],
                &[
                    "x",
                    "watch",
                    "--interval",
                    "5m",
                    "--skip-initial",
                    "verify",
                    "sigstore",
                    "m",
                ],
            ),
            (
                &["x", "watch", "--health-port", "0", "key", "m"],
                &["x", "watch", "--health-port", "0", "verify", "key", "m"],
            ),
            (
                &["x", "watch", "-health-port=9", "m", "--signature", "s"],
                &[
                    "x",
                    "watch",
                    "--health-port=9",
                    "verify",
                    "sigstore",
                    "m",
                    "--signature",
                    "s",
                ],
            ),
            (&["x", "watch", "--help"], &["x", "watch", "--help"]),
            (
                &["x", "watch", "-unknown", "verify", "key"],
                &["x", "watch", "-unknown", "verify", "key"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want.to_vec(), "{input:?}");
        }
    }

    #[test]
    fn go_booleans_and_escaping() {
        assert_eq!(go_bool("true"), Ok(true));
        assert_eq!(go_bool("F"), Ok(false));
        assert!(go_bool("yes").is_err());
        assert_eq!(show_duration(Duration::from_secs(300)), "5m");
        assert_eq!(show_duration(Duration::from_millis(2500)), "2.5s");
    }
}
