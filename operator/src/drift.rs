//! Continuous validation, controller side: what a pod's verifier sidecar reports.
//!
//! Two sources, both from the genuine sidecar only (the caller has checked the container with
//! [`crate::controller::assess`] first):
//!
//! * the kubelet's view in the pod status (`initContainerStatuses[model-validation]`: running,
//!   `started` once the startup probe passed, `ready` while `GET /ready` answers 200). A flip of
//!   these flags is a pod update, so the controller hears of drift within seconds;
//! * the sidecar's own last state line (`--output json`, [`AgentStateLine`]) from the tail of
//!   its log (`pods/log`, container `model-validation`): it names the files and the reason.
//!
//! A pod counts as verified (or restored) only when the sidecar's log says so *and*, where the
//! readiness probe gates the pod (Enforce), the kubelet sees it ready; bad news from either
//! source is believed. The log is read again only when the kubelet's flags change, while the
//! first verification runs, and in Warn mode (where drift changes no flag) once per interval.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::LogParams;
use mv_shared::INIT_CONTAINER_NAME;
use mv_shared::verify::{AgentStateLine, agent_event};

use crate::controller::PodState;

/// Lines of the sidecar's log read: its state lines are rare (one per change), so the last one
/// is among them unless the agent printed many warnings since.
pub const LOG_TAIL_LINES: i64 = 50;
/// At most this many bytes of log.
pub const LOG_LIMIT_BYTES: i64 = 256 << 10;
/// While the first verification runs (the startup probe has not passed: no flag changes when
/// it fails), the log is read again this often.
pub const STARTING_POLL: Duration = Duration::from_secs(10);

/// The last state line in a log excerpt; other lines and lines that do not decode are skipped.
pub fn last_state_line(log: &str) -> Option<AgentStateLine> {
    log.lines().rev().find_map(|l| {
        let l = l.trim();
        if !l.starts_with('{') {
            return None;
        }
        serde_json::from_str::<AgentStateLine>(l)
            .ok()
            .filter(|s| !s.event.is_empty())
    })
}

/// The state of a pod whose `model-validation` container is the sidecar, from its status.
/// `gated`: the container has the readiness probe (Enforce mode).
pub fn classify_sidecar(status: Option<&ContainerStatus>, gated: bool) -> PodState {
    let Some(status) = status else {
        return PodState::Pending;
    };
    let state = status.state.as_ref();
    if state.is_some_and(|s| s.running.is_some()) {
        let id = status.container_id.clone().unwrap_or_default();
        return PodState::Watching {
            run: format!("{id}#{}", status.restart_count),
            started: status.started == Some(true),
            ready: status.ready,
            gated,
        };
    }
    // Not running: waiting to be (re)started, or exited. Whatever it reported last, it is not
    // watching the model now.
    let last = state.and_then(|s| s.terminated.as_ref()).or_else(|| {
        status
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
    });
    let Some(t) = last else {
        return PodState::Pending;
    };
    let said = t
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    PodState::Failed {
        reason: format!(
            "the continuous-validation sidecar is not running (it exited with code {}){said}",
            t.exit_code
        ),
        warn_only: !gated,
        run: format!(
            "{}#{}",
            t.container_id.clone().unwrap_or_default(),
            status.restart_count
        ),
        finished: t.finished_at.as_ref().map(|f| f.0),
    }
}

/// Resolves [`PodState::Watching`] with the sidecar's last state line (`Err`: the log could not
/// be read). Other states are returned unchanged.
pub fn watched_state(state: PodState, line: Result<Option<&AgentStateLine>, &str>) -> PodState {
    let PodState::Watching {
        run,
        started,
        ready,
        gated,
    } = state
    else {
        return state;
    };
    let Ok(Some(line)) = line else {
        // Not known yet (no state line, or no log): neither verified nor failed.
        return PodState::Pending;
    };
    // Good news needs the kubelet to agree where it probes readiness.
    let confirmed = !gated || (started && ready);
    let at = line.unix_time;
    let reason = || {
        line.reason
            .clone()
            .unwrap_or_else(|| "the model does not match its signature".to_owned())
    };
    match line.event.as_str() {
        agent_event::VERIFIED if confirmed => PodState::Verified {
            report: None,
            run,
            finished: None,
        },
        agent_event::RESTORED if confirmed => PodState::Restored { run, at },
        agent_event::FAILED => PodState::Failed {
            reason: reason(),
            warn_only: line.warn_only || !gated,
            run: format!("{run}@{at}"),
            finished: None,
        },
        agent_event::DRIFT_DETECTED => PodState::Drifted {
            reason: reason(),
            files: if line.changes.is_empty() {
                line.files.clone()
            } else {
                line.changes.clone()
            },
            file_count: line.file_count.unwrap_or(line.files.len()),
            warn_only: line.warn_only || !gated,
            run,
            at,
        },
        _ => PodState::Pending,
    }
}

/// How long a log read stays good for a pod in `state` (`None`: until the kubelet's flags
/// change). `warn_poll`: the period in Warn mode.
pub fn refresh_after(state: &PodState, warn_poll: Duration) -> Option<Duration> {
    match state {
        PodState::Watching { gated: false, .. } => Some(warn_poll),
        PodState::Watching { started: false, .. } => Some(STARTING_POLL),
        _ => None,
    }
}

/// What was read from a sidecar's log, and under which flags.
#[derive(Debug, Clone)]
struct Seen {
    key: String,
    at: Instant,
    line: Result<Option<AgentStateLine>, String>,
}

/// The last log read of each sidecar, by namespace and pod uid.
#[derive(Debug, Default)]
pub struct LogCache {
    seen: Mutex<HashMap<(String, String), Seen>>,
}

/// The flags a log read is valid for.
fn key(state: &PodState) -> String {
    match state {
        PodState::Watching {
            run,
            started,
            ready,
            ..
        } => format!("{run}/{started}/{ready}"),
        _ => String::new(),
    }
}

impl LogCache {
    /// The remembered read for a pod, if still good for `state`.
    pub fn fresh(
        &self,
        namespace: &str,
        uid: &str,
        state: &PodState,
        max_age: Option<Duration>,
    ) -> Option<Result<Option<AgentStateLine>, String>> {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = seen.get(&(namespace.to_owned(), uid.to_owned()))?;
        let young = max_age.is_none_or(|m| s.at.elapsed() < m);
        (s.key == key(state) && young && s.line.is_ok()).then(|| s.line.clone())
    }

    /// Remembers a read.
    pub fn put(
        &self,
        namespace: &str,
        uid: &str,
        state: &PodState,
        line: Result<Option<AgentStateLine>, String>,
    ) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.insert(
            (namespace.to_owned(), uid.to_owned()),
            Seen {
                key: key(state),
                at: Instant::now(),
                line,
            },
        );
    }

    /// Forgets the pods of `namespace` that are not in `live` (uids).
    pub fn retain(&self, namespace: &str, live: &HashSet<String>) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(ns, uid), _| ns != namespace || live.contains(uid));
    }
}

/// Reads the last state line from the tail of the sidecar's log.
pub async fn read_state_line(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
) -> Result<Option<AgentStateLine>, String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = LogParams {
        container: Some(INIT_CONTAINER_NAME.to_owned()),
        tail_lines: Some(LOG_TAIL_LINES),
        limit_bytes: Some(LOG_LIMIT_BYTES),
        ..Default::default()
    };
    api.logs(pod, &params)
        .await
        .map(|text| last_state_line(&text))
        .map_err(|e| {
            format!("cannot read the log of {namespace}/{pod} container {INIT_CONTAINER_NAME}: {e}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(v: serde_json::Value) -> ContainerStatus {
        let mut base = json!({"name": INIT_CONTAINER_NAME, "image": "v", "imageID": "",
            "restartCount": 0, "ready": false, "containerID": "containerd://c1"});
        for (k, val) in v.as_object().unwrap() {
            base[k] = val.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn watching(started: bool, ready: bool, gated: bool) -> PodState {
        PodState::Watching {
            run: "containerd://c1#0".into(),
            started,
            ready,
            gated,
        }
    }

    #[test]
    fn the_kubelets_view_of_the_sidecar() {
        let running = json!({"running": {"startedAt": "2030-01-01T00:00:00Z"}});
        let cases = [
            (None, PodState::Pending, "no status yet"),
            (
                Some(json!({"state": running, "started": false})),
                watching(false, false, true),
                "verifying",
            ),
            (
                Some(json!({"state": running, "started": true, "ready": true})),
                watching(true, true, true),
                "ready",
            ),
            (
                Some(json!({"state": running, "started": true, "ready": false})),
                watching(true, false, true),
                "not ready",
            ),
        ];
        for (s, want, what) in cases {
            let s = s.map(status);
            assert_eq!(classify_sidecar(s.as_ref(), true), want, "{what}");
        }
        // exited: not watching any more, whatever it said last
        let s = status(
            json!({"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "message": "cannot listen for probes",
            "containerID": "containerd://c0", "finishedAt": "2030-01-01T00:00:00Z"}}}),
        );
        match classify_sidecar(Some(&s), true) {
            PodState::Failed {
                reason,
                warn_only,
                run,
                ..
            } => {
                assert!(reason.contains("not running") && reason.contains("cannot listen"));
                assert!(!warn_only);
                assert_eq!(run, "containerd://c0#2");
            }
            other => panic!("{other:?}"),
        }
        let s = status(json!({"state": {"waiting": {"reason": "PodInitializing"}}}));
        assert_eq!(classify_sidecar(Some(&s), false), PodState::Pending);
    }

    fn line(event: &str) -> AgentStateLine {
        AgentStateLine {
            event: event.into(),
            reason: Some("weights.bin: digest mismatch".into()),
            files: vec!["weights.bin".into()],
            changes: vec!["weights.bin: modified".into()],
            file_count: Some(1),
            unix_time: 1_900_000_000,
            ..Default::default()
        }
    }

    /// (state, what the log holds, expected state, description)
    type Case = (
        PodState,
        Result<Option<AgentStateLine>, &'static str>,
        PodState,
        &'static str,
    );

    #[test]
    fn the_sidecars_report_and_the_kubelets_view_together() {
        let verified = PodState::Verified {
            report: None,
            run: "containerd://c1#0".into(),
            finished: None,
        };
        let restored = PodState::Restored {
            run: "containerd://c1#0".into(),
            at: 1_900_000_000,
        };
        let drifted = |warn_only| PodState::Drifted {
            reason: "weights.bin: digest mismatch".into(),
            files: vec!["weights.bin: modified".into()],
            file_count: 1,
            warn_only,
            run: "containerd://c1#0".into(),
            at: 1_900_000_000,
        };
        let failed = |warn_only| PodState::Failed {
            reason: "weights.bin: digest mismatch".into(),
            warn_only,
            run: "containerd://c1#0@1900000000".into(),
            finished: None,
        };
        let cases: Vec<Case> = vec![
            (
                watching(true, true, true),
                Ok(Some(line("verified"))),
                verified.clone(),
                "verified and ready",
            ),
            (
                watching(true, false, true),
                Ok(Some(line("verified"))),
                PodState::Pending,
                "log says verified, kubelet not ready yet",
            ),
            (
                watching(false, false, true),
                Ok(Some(line("verified"))),
                PodState::Pending,
                "startup probe not passed yet",
            ),
            (
                watching(true, true, false),
                Ok(Some(line("verified"))),
                verified.clone(),
                "Warn: no readiness gate",
            ),
            (
                watching(true, true, true),
                Ok(Some(line("restored"))),
                restored.clone(),
                "restored and ready",
            ),
            (
                watching(true, false, true),
                Ok(Some(line("restored"))),
                PodState::Pending,
                "restored, kubelet not ready yet",
            ),
            (
                watching(true, false, true),
                Ok(Some(line("drift-detected"))),
                drifted(false),
                "drift, NotReady",
            ),
            (
                watching(true, true, true),
                Ok(Some(line("drift-detected"))),
                drifted(false),
                "drift before the probe saw it",
            ),
            (
                watching(true, true, false),
                Ok(Some(line("drift-detected"))),
                drifted(true),
                "drift in Warn mode",
            ),
            (
                watching(false, false, true),
                Ok(Some(line("failed"))),
                failed(false),
                "first check failed",
            ),
            (
                watching(true, true, false),
                Ok(Some(line("failed"))),
                failed(true),
                "first check failed, Warn",
            ),
            (
                watching(true, false, true),
                Ok(None),
                PodState::Pending,
                "no state line",
            ),
            (
                watching(true, false, true),
                Err("forbidden"),
                PodState::Pending,
                "log unreadable",
            ),
            (
                watching(true, true, true),
                Ok(Some(line("something-new"))),
                PodState::Pending,
                "unknown event",
            ),
            (
                PodState::Uninjected,
                Ok(Some(line("verified"))),
                PodState::Uninjected,
                "not a sidecar",
            ),
        ];
        for (state, l, want, what) in cases {
            let l = match &l {
                Ok(o) => Ok(o.as_ref()),
                Err(e) => Err(*e),
            };
            assert_eq!(watched_state(state, l), want, "{what}");
        }
    }

    #[test]
    fn the_last_state_line_of_a_log_is_found() {
        let log = concat!(
            "validation-agent: probes listening on 0.0.0.0:8718 (GET /ready, GET /healthz)\n",
            r#"{"event":"verified","ready":true,"method":"key","model":"/m","check":"initial","warnOnly":false,"unixTime":1}"#,
            "\n",
            "2030-01-01T00:00:00Z  INFO watching interval=300s\n",
            r#"{"event":"drift-detected","ready":false,"files":["a b.bin"],"changes":["a b.bin: modified"],"reason":"x","unixTime":2}"#,
            "\n",
            "{not json\n",
            r#"{"other":"json"}"#,
            "\n",
        );
        let l = last_state_line(log).unwrap();
        assert_eq!(l.event, "drift-detected");
        assert_eq!(l.files, ["a b.bin"]);
        assert_eq!(l.unix_time, 2);
        assert_eq!(last_state_line("no state\n"), None);
        assert_eq!(last_state_line(""), None);
    }

    #[test]
    fn log_reads_are_reused_until_the_flags_change() {
        let cache = LogCache::default();
        let s = watching(true, true, true);
        assert!(cache.fresh("ns", "u", &s, None).is_none());
        cache.put("ns", "u", &s, Ok(Some(line("verified"))));
        assert!(cache.fresh("ns", "u", &s, None).is_some());
        assert!(cache.fresh("other", "u", &s, None).is_none());
        let flipped = watching(true, false, true);
        assert!(
            cache.fresh("ns", "u", &flipped, None).is_none(),
            "ready flipped"
        );
        assert!(
            cache.fresh("ns", "u", &s, Some(Duration::ZERO)).is_none(),
            "too old"
        );
        cache.put("ns", "u", &s, Err("forbidden".into()));
        assert!(
            cache.fresh("ns", "u", &s, None).is_none(),
            "errors are retried"
        );
        cache.put("ns", "v", &s, Ok(None));
        cache.put("b", "x", &s, Ok(None));
        cache.retain("ns", &HashSet::from(["w".to_owned()]));
        assert!(
            cache.fresh("ns", "v", &s, None).is_none(),
            "gone from its namespace"
        );
        assert!(
            cache.fresh("b", "x", &s, None).is_some(),
            "other namespaces are kept"
        );
        assert_eq!(
            refresh_after(&watching(true, true, false), Duration::from_secs(60)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            refresh_after(&watching(false, false, true), Duration::from_secs(60)),
            Some(STARTING_POLL)
        );
        assert_eq!(
            refresh_after(&watching(true, false, true), Duration::from_secs(60)),
            None
        );
    }
}
