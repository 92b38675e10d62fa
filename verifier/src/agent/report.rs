//! What `watch` prints and writes at each change of state: a text line or a JSON object, and
//! the termination log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use model_verifier::posix;
use model_verifier::watch::check::{CheckReport, Checker, Verdict};
use model_verifier::watch::scan::now_ns;
use mv_shared::verify::{CommonVerifyArgs, Outcome, OutputFormat, TerminationReport, agent_event};

/// Serialises output lines with the exit on a signal, so a termination log is never cut.
pub(super) static OUTPUT: Mutex<()> = Mutex::new(());

/// Text for a log line: control characters escaped, so a file name cannot forge lines.
fn escape_control(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Reports state changes: stdout/stderr (text or JSON lines) and the termination log.
pub(super) struct Reporter {
    method: &'static str,
    model: PathBuf,
    output: OutputFormat,
    termination_log: Option<PathBuf>,
    warn_only: bool,
    /// `(verified, kind, files)` of the last report.
    last: Option<(bool, &'static str, Vec<String>)>,
}

/// One state change, as printed with `--output json`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StateEvent<'a> {
    /// `verified`, `failed`, `drift-detected` or `restored`.
    event: &'a str,
    ready: bool,
    method: &'a str,
    model: &'a Path,
    check: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    files: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    file_count: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    changes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_digest: Option<String>,
    warn_only: bool,
    unix_time: i64,
}

impl Reporter {
    pub(super) fn new(method: &'static str, model: PathBuf, common: &CommonVerifyArgs) -> Self {
        Self {
            method,
            model,
            output: common.output,
            termination_log: common.termination_log.clone(),
            warn_only: common.warn_only,
            last: None,
        }
    }

    /// `/ready`: after a verified check (always, after the first check, with `--warn-only`).
    pub(super) fn ready(&self) -> bool {
        self.last
            .as_ref()
            .is_some_and(|(ok, _, _)| *ok || self.warn_only)
    }

    pub(super) fn update<F>(&mut self, report: &CheckReport, check: &str, checker: &Checker<F>) {
        let (ok, kind, files, reason, count) = match &report.verdict {
            Verdict::Verified => (true, "", Vec::new(), None, None),
            Verdict::Failed(f) => (
                false,
                f.kind,
                f.files.clone(),
                Some(f.reason.as_str()),
                Some(f.file_count),
            ),
        };
        let state = (ok, kind, files);
        let first = self.last.is_none();
        if self.last.as_ref() == Some(&state) {
            return;
        }
        let was_ok = self.last.as_ref().is_some_and(|(ok, _, _)| *ok);
        let event = match (first, ok) {
            (true, true) => agent_event::VERIFIED,
            (true, false) => agent_event::FAILED,
            (false, true) => agent_event::RESTORED,
            (false, false) => agent_event::DRIFT_DETECTED,
        };
        let files = &state.2;
        let changes: Vec<String> = files
            .iter()
            .filter_map(|f| report.changes.iter().find(|c| &c.name == f))
            .map(|c| format!("{}: {}", c.name, c.kind))
            .collect();
        let summary = checker.summary();
        let _guard = OUTPUT.lock();
        match self.output {
            OutputFormat::Json => {
                let e = StateEvent {
                    event,
                    ready: ok || self.warn_only,
                    method: self.method,
                    model: &self.model,
                    check,
                    kind: (!ok).then_some(kind),
                    reason,
                    files,
                    file_count: count,
                    changes,
                    root_digest: summary.as_ref().map(|s| s.0.clone()),
                    warn_only: self.warn_only,
                    unix_time: i64::try_from(now_ns() / 1_000_000_000).unwrap_or_default(),
                };
                let line = serde_json::to_string(&e).unwrap_or_default();
                let _ = writeln!(std::io::stdout(), "{line}");
            }
            OutputFormat::Text => {
                if ok {
                    let text = if first {
                        "Verification succeeded".to_owned()
                    } else {
                        format!(
                            "Model verified again: {} matches its signature",
                            posix::repr_str(&self.model.to_string_lossy())
                        )
                    };
                    let _ = writeln!(std::io::stdout(), "{text}");
                } else {
                    let mut line = String::new();
                    if !first {
                        let what: Vec<String> = if changes.is_empty() {
                            files.iter().map(|f| posix::repr_str(f)).collect()
                        } else {
                            changes.iter().map(|c| escape_control(c)).collect()
                        };
                        line.push_str(if was_ok {
                            "Model drift detected"
                        } else {
                            "Model still failing"
                        });
                        if !what.is_empty() {
                            line.push_str(&format!(" ({})", what.join("; ")));
                        }
                        line.push_str(": ");
                    }
                    line.push_str("Verification failed with error: ");
                    line.push_str(&escape_control(reason.unwrap_or_default()));
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            }
        }
        if let Some(path) = &self.termination_log {
            let termination = TerminationReport {
                outcome: if ok {
                    Outcome::Verified
                } else {
                    Outcome::Failed
                },
                method: self.method.to_owned(),
                root_digest: summary.as_ref().map(|s| s.0.clone()),
                files: summary.as_ref().map(|s| s.1),
                bytes: summary.as_ref().map(|s| s.2),
                seconds: Some(report.elapsed.as_secs_f64()),
                reason: reason.map(|r| crate::cli::truncate(r, 1024)),
                warn_only: self.warn_only,
            };
            let mut line = serde_json::to_string(&termination).unwrap_or_default();
            line.push('\n');
            if let Err(e) = std::fs::write(path, line) {
                let _ = writeln!(
                    std::io::stderr(),
                    "WARNING: cannot write the termination log '{}': {e}; the state is still reported here and by /ready",
                    escape_control(&path.display().to_string())
                );
            }
        }
        self.last = Some(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_line_printed_is_the_one_the_operator_reads() {
        let files = vec!["weights.bin".to_owned()];
        let e = StateEvent {
            event: "drift-detected",
            ready: false,
            method: "key",
            model: Path::new("/data/model"),
            check: "inotify",
            kind: Some("mismatch"),
            reason: Some("weights.bin: digest differs"),
            files: &files,
            file_count: Some(1),
            changes: vec!["weights.bin: modified".to_owned()],
            root_digest: None,
            warn_only: false,
            unix_time: 1_790_000_000,
        };
        let line = serde_json::to_string(&e).unwrap();
        let read: mv_shared::verify::AgentStateLine = serde_json::from_str(&line).unwrap();
        assert_eq!(read.event, mv_shared::verify::agent_event::DRIFT_DETECTED);
        assert!(!read.ready);
        assert_eq!(read.check, "inotify");
        assert_eq!(read.kind.as_deref(), Some("mismatch"));
        assert_eq!(read.reason.as_deref(), Some("weights.bin: digest differs"));
        assert_eq!(read.files, files);
        assert_eq!(read.file_count, Some(1));
        assert_eq!(read.changes, ["weights.bin: modified"]);
        assert_eq!(read.unix_time, 1_790_000_000);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(escape_control("plain é"), "plain é");
    }
}
