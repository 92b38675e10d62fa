//! Continuous validation: the verifier as a native sidecar (`model-verifier watch`).
//!
//! When a ModelValidation sets `continuousValidation.enabled`, the webhook injects the same
//! `model-validation` container as for a one-shot check (same image, mounts, security context)
//! turned into a native sidecar: an init container with `restartPolicy: Always` that runs
//! `watch --interval=… --health-port=… verify …` and keeps checking the model while the pod
//! runs. Pure functions only: the container is derived from the one-shot container, so that the
//! webhook and the controller's tamper check ([`crate::controller::assess`]) compute the same.
//!
//! * Enforce mode: a `startupProbe` on `GET /ready` (the kubelet starts the app containers only
//!   once a sidecar's startup probe passed, i.e. after the first verification succeeded), a
//!   `readinessProbe` on `GET /ready` (drift makes the pod NotReady: it leaves its Services'
//!   endpoints) and a `livenessProbe` on `GET /healthz`.
//! * Warn mode: the agent runs with `--warn-only` (its `/ready` answers 200 once the first
//!   check ran, whatever its result) and only the liveness probe is set: the app containers
//!   start at once and drift never changes the pod's readiness; the controller reports it.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, PodSpec, Probe, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::Mode;

/// Port of the agent's probe server inside the pod (`--health-port`). The pod's containers
/// share one network namespace: no other container of a continuously validated pod may listen
/// on it.
pub const AGENT_HEALTH_PORT: u16 = 8718;
/// Readiness path of the agent: 200 while the model verifies.
pub const READY_PATH: &str = "/ready";
/// Liveness path of the agent: 200 while the process works.
pub const HEALTH_PATH: &str = "/healthz";
/// Startup probe: checked every second...
pub const STARTUP_PERIOD_SECONDS: i32 = 1;
/// ...for up to 30 minutes (a large model takes a while to hash); then the kubelet restarts the
/// sidecar, which verifies again.
pub const STARTUP_FAILURE_THRESHOLD: i32 = 1800;
/// Readiness probe period: drift shows as NotReady within this many seconds of the agent
/// seeing it.
pub const READINESS_PERIOD_SECONDS: i32 = 2;

/// The agent's `--interval` for a ModelValidation interval: whole seconds (`5400s` for `1h30m`
/// or `1.5h`), with milliseconds when the interval has a fraction of a second.
pub fn agent_interval(interval: Duration) -> String {
    let total_ms = (interval.as_nanos() + 500_000) / 1_000_000;
    let (secs, ms) = (total_ms / 1000, total_ms % 1000);
    if ms == 0 {
        format!("{secs}s")
    } else {
        format!("{secs}.{ms:03}s")
    }
}

/// Default resources of the sidecar: it idles between checks, so small requests (10m CPU,
/// 32Mi); the limits of the one-shot verifier (1 CPU, 512Mi) for the full re-hashes.
pub fn default_agent_resources() -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_owned());
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), q("10m")),
            ("memory".to_owned(), q("32Mi")),
        ])),
        limits: Some(BTreeMap::from([
            ("cpu".to_owned(), q("1")),
            ("memory".to_owned(), q("512Mi")),
        ])),
        ..Default::default()
    }
}

/// An HTTP probe with every field the API server would default set explicitly, so the
/// container read back from the API compares equal to the one computed here.
fn http_probe(path: &str, period: i32, timeout: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(i32::from(AGENT_HEALTH_PORT)),
            scheme: Some("HTTP".to_owned()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(timeout),
        success_threshold: Some(1),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    }
}

/// Turns the one-shot verifier container (`args` = `verify …`) into the continuous sidecar.
/// `resources`: the ModelValidation's, else `None` for [`default_agent_resources`].
pub fn into_sidecar(
    mut container: Container,
    interval: Duration,
    mode: Mode,
    resources: Option<ResourceRequirements>,
) -> Container {
    let verify = container.args.take().unwrap_or_default();
    let mut args = vec![
        "watch".to_owned(),
        format!("--interval={}", agent_interval(interval)),
        format!("--health-port={AGENT_HEALTH_PORT}"),
    ];
    args.extend(verify);
    // The state lines (`{"event":"drift-detected","files":[…],…}`) the controller reads.
    args.extend(["--output".to_owned(), "json".to_owned()]);
    container.args = Some(args);
    container.restart_policy = Some("Always".to_owned());
    container.resources = Some(resources.unwrap_or_else(default_agent_resources));
    container.liveness_probe = Some(http_probe(HEALTH_PATH, 10, 2, 3));
    if mode == Mode::Enforce {
        container.startup_probe = Some(http_probe(
            READY_PATH,
            STARTUP_PERIOD_SECONDS,
            1,
            STARTUP_FAILURE_THRESHOLD,
        ));
        container.readiness_probe = Some(http_probe(READY_PATH, READINESS_PERIOD_SECONDS, 1, 1));
    }
    container
}

/// The first container of the pod (app or init) that declares the agent's port, by
/// name: the containers of a pod share one network namespace. Undeclared listeners are not
/// seen.
pub fn port_taken_by(spec: &PodSpec) -> Option<String> {
    let port = i32::from(AGENT_HEALTH_PORT);
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.ports.iter().flatten().any(|p| p.container_port == port))
        .map(|c| c.name.clone())
}

/// Whether an injected `model-validation` container is the continuous sidecar.
pub fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_intervals_become_the_agents_seconds() {
        let cases = [
            ("1m", "60s"),
            ("5m", "300s"),
            ("1h", "3600s"),
            ("1h30m", "5400s"),
            ("1.5h", "5400s"),
            ("90m", "5400s"),
            ("0.5h", "1800s"),
            ("2h0m", "7200s"),
            ("1.001m", "60.060s"),
        ];
        for (upstream, agent) in cases {
            let d = crate::crd::parse_interval(upstream).unwrap();
            let flag = agent_interval(d);
            assert_eq!(flag, agent, "{upstream}");
        }
    }

    fn one_shot() -> Container {
        Container {
            name: "model-validation".into(),
            args: Some(vec!["verify".into(), "key".into(), "/m".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn the_sidecar_per_mode() {
        struct Case {
            mode: Mode,
            startup: bool,
            readiness: bool,
            warn_only_kept: bool,
        }
        let cases = [
            Case {
                mode: Mode::Enforce,
                startup: true,
                readiness: true,
                warn_only_kept: false,
            },
            Case {
                mode: Mode::Warn,
                startup: false,
                readiness: false,
                warn_only_kept: true,
            },
        ];
        for case in cases {
            let mut base = one_shot();
            if case.warn_only_kept {
                base.args.as_mut().unwrap().push("--warn-only".into());
            }
            let c = into_sidecar(base, Duration::from_secs(300), case.mode, None);
            let args = c.args.clone().unwrap();
            assert_eq!(
                args[..5],
                [
                    "watch",
                    "--interval=300s",
                    "--health-port=8718",
                    "verify",
                    "key"
                ],
                "{:?}",
                case.mode
            );
            assert_eq!(args[args.len() - 2..], ["--output", "json"]);
            assert_eq!(
                args.contains(&"--warn-only".to_owned()),
                case.warn_only_kept
            );
            assert!(is_sidecar(&c));
            assert_eq!(c.startup_probe.is_some(), case.startup, "{:?}", case.mode);
            assert_eq!(c.readiness_probe.is_some(), case.readiness);
            let live = c
                .liveness_probe
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap();
            assert_eq!(live.path.as_deref(), Some(HEALTH_PATH));
            assert_eq!(live.port, IntOrString::Int(8718));
            if let Some(p) = &c.startup_probe {
                let get = p.http_get.as_ref().unwrap();
                assert_eq!(get.path.as_deref(), Some(READY_PATH));
                assert_eq!(get.scheme.as_deref(), Some("HTTP"));
                assert_eq!(p.failure_threshold, Some(STARTUP_FAILURE_THRESHOLD));
            }
            if let Some(p) = &c.readiness_probe {
                assert_eq!(p.failure_threshold, Some(1));
                assert_eq!(p.period_seconds, Some(READINESS_PERIOD_SECONDS));
            }
            let requests = c.resources.unwrap().requests.unwrap();
            assert_eq!(requests["cpu"], Quantity("10m".into()));
            assert_eq!(requests["memory"], Quantity("32Mi".into()));
        }
        assert!(!is_sidecar(&one_shot()));
    }
}
