//! Leader election with a `coordination.k8s.io/v1` Lease, so that controller work runs on one
//! replica while the webhook serves on all of them.
//!
//! Like client-go, expiry is judged on this replica's monotonic clock: a Lease whose
//! `renewTime` has not changed for `leaseDurationSeconds` since we first saw it is free, whatever
//! the clocks of other nodes say. RBAC: `get`, `create`, `update` on `leases` in one namespace.
//!
//! Like client-go's `renewDeadline`, the leader stops leading when no renewal has succeeded
//! within [`LeaseConfig::renew_deadline`] (shorter than the lease duration), however the API
//! calls hang: each call is bounded by the time left until that deadline, and the work gets a
//! short grace to stop before it is aborted, well before another replica can take the Lease.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Where and who.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica (its pod name).
    pub identity: String,
    /// How long a Lease holds without renewal.
    pub lease_duration: Duration,
    /// The leader stops leading when no renewal succeeded for this long (must be shorter than
    /// `lease_duration`; client-go's `renewDeadline`).
    pub renew_deadline: Duration,
    /// How often the holder renews, and others retry.
    pub retry_period: Duration,
}

/// Lease API failure.
#[derive(Debug, thiserror::Error)]
#[error("cannot read or write Lease {namespace}/{name}")]
pub struct LeaseError {
    namespace: String,
    name: String,
    #[source]
    source: kube::Error,
}

/// One replica's view of the election.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// (holder, renewTime) last seen, and when we first saw it.
    observed: Option<(Option<String>, Option<MicroTime>, Instant)>,
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl Elector {
    /// An elector for `config` (no API call yet).
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    fn err(&self, source: kube::Error) -> LeaseError {
        LeaseError {
            namespace: self.config.namespace.clone(),
            name: self.config.name.clone(),
            source,
        }
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        let ours = previous.and_then(|p| p.holder_identity.as_deref())
            == Some(self.config.identity.as_str());
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(15),
            ),
            acquire_time: if ours {
                previous.and_then(|p| p.acquire_time.clone())
            } else {
                Some(MicroTime(now))
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..Default::default()
        }
    }

    /// Acquires or renews the Lease; `Ok(true)` while this replica holds it.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaseError> {
        let now = Timestamp::now();
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.err(e))?
        else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(None, now)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(self.err(e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(self.config.identity.as_str());
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.config.lease_duration, Duration::from_secs);
        let record = (holder.clone(), spec.renew_time.clone());
        let first_seen = match &self.observed {
            Some((h, r, at)) if (h, r) == (&record.0, &record.1) => *at,
            _ => Instant::now(),
        };
        self.observed = Some((record.0, record.1, first_seen));
        let expired = first_seen.elapsed() >= duration;
        if !(ours || holder.is_none() || expired) {
            return Ok(false);
        }
        lease.spec = Some(self.spec(Some(&spec), now));
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Gives the Lease up (on shutdown) so another replica takes over at once.
    pub async fn release(&mut self) -> Result<(), LeaseError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }
}

/// Runs `work` while this replica leads, until `shutdown` is cancelled. `work` gets a token
/// that is cancelled when leadership is lost (another replica holds the Lease, or no renewal
/// succeeded within `renew_deadline`) or on shutdown; it must return soon after, else it is
/// aborted. A `work` that panics is started again while this replica leads. Leadership can be
/// won again later.
pub async fn run_while_leader<F, Fut>(
    mut elector: Elector,
    metrics: Metrics,
    shutdown: CancellationToken,
    work: F,
) where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let retry = elector.config.retry_period;
    let duration = elector.config.lease_duration;
    let deadline = elector.config.renew_deadline.min(duration);
    // Time the work gets to stop once leadership is lost: half the margin between the renew
    // deadline and the moment another replica may take the Lease.
    let stop_grace = duration.saturating_sub(deadline) / 2;
    loop {
        // follower: try until we lead
        let attempt = Instant::now();
        let led = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = tokio::time::timeout(deadline, elector.try_acquire_or_renew()) => r,
        };
        match led {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(retry) => continue,
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Leader election failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(retry) => continue,
                }
            }
            Err(_) => {
                tracing::warn!(
                    seconds = deadline.as_secs_f64(),
                    "Leader election call did not finish in time; retrying"
                );
                continue;
            }
        }
        // Counted from before the acquiring call: it may have taken a while.
        let mut last_renewed = attempt;
        tracing::info!(identity = %elector.config.identity, lease = %elector.config.name, "Became leader");
        metrics.leader.set(1);
        let lost = shutdown.child_token();
        let mut task = tokio::spawn(work(lost.clone()));
        let mut work_done = false;
        let mut panicked = false;
        while !lost.is_cancelled() {
            tokio::select! {
                _ = lost.cancelled() => break,
                r = &mut task => {
                    work_done = true;
                    panicked = r.as_ref().is_err_and(tokio::task::JoinError::is_panic);
                    break;
                }
                _ = tokio::time::sleep(retry) => {}
            }
            let left = deadline.saturating_sub(last_renewed.elapsed());
            let attempt = Instant::now();
            match tokio::time::timeout(left, elector.try_acquire_or_renew()).await {
                Ok(Ok(true)) => last_renewed = attempt,
                Ok(Ok(false)) => {
                    tracing::warn!("Leadership lost to another replica");
                    lost.cancel();
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Cannot renew the Lease");
                    if last_renewed.elapsed() + retry >= deadline {
                        tracing::warn!("No renewal within the renew deadline; stopping leading");
                        lost.cancel();
                    }
                }
                Err(_) => {
                    tracing::warn!(
                        seconds = deadline.as_secs_f64(),
                        "No renewal within the renew deadline (API server not answering); stopping leading"
                    );
                    lost.cancel();
                }
            }
        }
        lost.cancel();
        if !work_done && tokio::time::timeout(stop_grace, &mut task).await.is_err() {
            tracing::warn!("The controller did not stop in time; aborting it");
            task.abort();
            let _ = task.await;
        }
        metrics.leader.set(0);
        if shutdown.is_cancelled() {
            if !matches!(
                tokio::time::timeout(deadline, elector.release()).await,
                Ok(Ok(()))
            ) {
                tracing::warn!("Cannot release the Lease");
            }
            return;
        }
        if panicked {
            tracing::error!("The controller panicked; starting it again");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(retry) => continue,
            }
        }
        if work_done {
            // the work ended on its own: yield leadership and stop
            let _ = tokio::time::timeout(deadline, elector.release()).await;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};

    type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

    const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/mvo";

    fn elector(identity: &str) -> (Elector, Handle) {
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let config = LeaseConfig {
            namespace: "ops".into(),
            name: "mvo".into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        };
        (Elector::new(Client::new(svc, "default"), config), handle)
    }

    fn lease(holder: Option<&str>, renew: &str, duration: i32) -> Value {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "mvo", "namespace": "ops", "resourceVersion": "7"},
               "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                        "renewTime": renew, "leaseTransitions": 2}})
    }

    fn respond(send: tower_test::mock::SendResponse<Response<Body>>, status: u16, body: &Value) {
        send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(body).unwrap()))
                .unwrap(),
        );
    }

    async fn expect(
        handle: &mut Handle,
        method: Method,
    ) -> (Value, tower_test::mock::SendResponse<Response<Body>>) {
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(req.method(), method);
        let path = req.uri().path().to_owned();
        let body = req.into_body().collect_bytes().await.unwrap();
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        if method == Method::POST {
            assert_eq!(path, "/apis/coordination.k8s.io/v1/namespaces/ops/leases");
        } else {
            assert_eq!(path, PATH);
        }
        (body, send)
    }

    fn not_found() -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
    }

    #[tokio::test]
    async fn an_absent_lease_is_created_and_held() {
        let (mut e, mut h) = elector("a");
        let server = tokio::spawn(async move {
            let (_, send) = expect(&mut h, Method::GET).await;
            respond(send, 404, &not_found());
            let (body, send) = expect(&mut h, Method::POST).await;
            assert_eq!(body["spec"]["holderIdentity"], "a");
            assert_eq!(body["spec"]["leaseDurationSeconds"], 15);
            respond(send, 201, &body);
        });
        assert!(e.try_acquire_or_renew().await.unwrap());
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_fresh_lease_of_another_replica_is_respected_then_taken_when_it_stops_renewing() {
        let (mut e, mut h) = elector("b");
        let held = lease(Some("a"), "2026-01-01T00:00:00.000000Z", 1);
        let server = tokio::spawn(async move {
            let (_, send) = expect(&mut h, Method::GET).await;
            respond(send, 200, &held);
            // unchanged for longer than leaseDurationSeconds on our clock: take it over
            let (_, send) = expect(&mut h, Method::GET).await;
            respond(send, 200, &held);
            let (body, send) = expect(&mut h, Method::PUT).await;
            assert_eq!(body["spec"]["holderIdentity"], "b");
            assert_eq!(body["spec"]["leaseTransitions"], 3);
            assert_eq!(body["metadata"]["resourceVersion"], "7");
            respond(send, 200, &body);
        });
        // the other replica's clock is irrelevant: its renewTime is in the past, yet it holds
        assert!(!e.try_acquire_or_renew().await.unwrap());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(e.try_acquire_or_renew().await.unwrap());
        server.await.unwrap();
    }

    #[tokio::test]
    async fn renewal_keeps_acquire_time_and_a_conflict_means_not_leader() {
        let (mut e, mut h) = elector("a");
        let mut ours = lease(Some("a"), "2026-01-01T00:00:00.000000Z", 15);
        ours["spec"]["acquireTime"] = json!("2025-12-31T00:00:00.000000Z");
        let server = tokio::spawn(async move {
            let (_, send) = expect(&mut h, Method::GET).await;
            respond(send, 200, &ours);
            let (body, send) = expect(&mut h, Method::PUT).await;
            assert_eq!(body["spec"]["acquireTime"], "2025-12-31T00:00:00.000000Z");
            assert_eq!(body["spec"]["leaseTransitions"], 2);
            assert_ne!(body["spec"]["renewTime"], "2026-01-01T00:00:00.000000Z");
            respond(send, 200, &body);
            // someone else wrote in between: 409
            let (_, send) = expect(&mut h, Method::GET).await;
            respond(send, 200, &ours);
            let (_, send) = expect(&mut h, Method::PUT).await;
            respond(
                send,
                409,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "conflict"}),
            );
        });
        assert!(e.try_acquire_or_renew().await.unwrap());
        assert!(!e.try_acquire_or_renew().await.unwrap());
        server.await.unwrap();
    }

    #[tokio::test]
    async fn release_hands_the_lease_over() {
        let (mut e, mut h) = elector("a");
        let ours = lease(Some("a"), "2026-01-01T00:00:00.000000Z", 15);
        let server = tokio::spawn(async move {
            let (_, send) = expect(&mut h, Method::GET).await;
            respond(send, 200, &ours);
            let (body, send) = expect(&mut h, Method::PUT).await;
            assert!(
                body["spec"]
                    .get("holderIdentity")
                    .is_none_or(Value::is_null)
            );
            assert_eq!(body["spec"]["leaseDurationSeconds"], 1);
            respond(send, 200, &body);
        });
        e.release().await.unwrap();
        server.await.unwrap();
    }
}

#[cfg(test)]
mod election_tests {
    use super::*;
    use http::{Method, Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    /// A Lease store behind a scripted API server: GET/POST/PUT on one Lease, with
    /// resourceVersion conflicts, like the real thing.
    async fn serve_lease(
        mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
        log: tokio::sync::mpsc::UnboundedSender<(Method, Option<String>)>,
    ) {
        let mut stored: Option<Value> = None;
        let mut version = 0u64;
        while let Some((req, send)) = handle.next_request().await {
            let method = req.method().clone();
            let body = req.into_body().collect_bytes().await.unwrap();
            let (status, out) = match method {
                Method::GET => match &stored {
                    Some(l) => (200, l.clone()),
                    None => (
                        404,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
                    ),
                },
                Method::POST | Method::PUT => {
                    let mut l: Value = serde_json::from_slice(&body).unwrap();
                    let sent = l["metadata"]["resourceVersion"].as_str().map(str::to_owned);
                    let current = stored.as_ref().map(|s| {
                        s["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap()
                            .to_owned()
                    });
                    if method == Method::PUT && sent != current {
                        (
                            409,
                            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409}),
                        )
                    } else {
                        version += 1;
                        l["metadata"]["resourceVersion"] = json!(version.to_string());
                        stored = Some(l.clone());
                        (if method == Method::POST { 201 } else { 200 }, l)
                    }
                }
                _ => panic!("unexpected {method}"),
            };
            let holder = stored
                .as_ref()
                .and_then(|s| s["spec"]["holderIdentity"].as_str().map(str::to_owned));
            let _ = log.send((method, holder));
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&out).unwrap()))
                    .unwrap(),
            );
        }
    }

    /// One Lease on a scripted API server shared by several replicas' clients; `stalled`
    /// makes the server stop answering one client (requests are held, never answered).
    async fn serve_shared(
        mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
        store: Arc<Mutex<(Option<Value>, u64)>>,
        stalled: Arc<AtomicBool>,
    ) {
        let mut held = Vec::new();
        while let Some((req, send)) = handle.next_request().await {
            if stalled.load(Ordering::SeqCst) {
                held.push(send);
                continue;
            }
            let method = req.method().clone();
            let body = req.into_body().collect_bytes().await.unwrap();
            let (status, out) = {
                let mut guard = store.lock().unwrap();
                let (stored, version) = &mut *guard;
                match method {
                    Method::GET => match stored {
                        Some(l) => (200, l.clone()),
                        None => (
                            404,
                            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
                        ),
                    },
                    _ => {
                        let mut l: Value = serde_json::from_slice(&body).unwrap();
                        let sent = l["metadata"]["resourceVersion"].as_str().map(str::to_owned);
                        let current = stored.as_ref().map(|s| {
                            s["metadata"]["resourceVersion"]
                                .as_str()
                                .unwrap()
                                .to_owned()
                        });
                        if (method == Method::PUT && sent != current)
                            || (method == Method::POST && stored.is_some())
                        {
                            (
                                409,
                                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409}),
                            )
                        } else {
                            *version += 1;
                            l["metadata"]["resourceVersion"] = json!(version.to_string());
                            *stored = Some(l.clone());
                            (200, l)
                        }
                    }
                }
            };
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&out).unwrap()))
                    .unwrap(),
            );
        }
    }

    /// Who did what when.
    type Log = Arc<Mutex<Vec<(&'static str, &'static str, Instant)>>>;

    /// Records "start" and, when dropped (stopped or aborted), "stop".
    struct Running {
        who: &'static str,
        log: Log,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.log
                .lock()
                .unwrap()
                .push((self.who, "stop", Instant::now()));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_whose_api_server_stalls_stops_before_another_takes_over() {
        // Before issue 16 the stalled renewal never returned: the old leader's work kept
        // running while the other replica took the Lease and started its own.
        let store = Arc::new(Mutex::new((None, 0)));
        let log: Log = Arc::default();
        let shutdown = CancellationToken::new();
        let mut stalls = Vec::new();
        let mut electors = Vec::new();
        for who in ["a", "b"] {
            let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
            let stalled = Arc::new(AtomicBool::new(false));
            tokio::spawn(serve_shared(handle, store.clone(), stalled.clone()));
            stalls.push(stalled);
            let elector = Elector::new(
                Client::new(svc, "default"),
                LeaseConfig {
                    namespace: "ops".into(),
                    name: "mvo".into(),
                    identity: who.into(),
                    lease_duration: Duration::from_secs(2),
                    renew_deadline: Duration::from_millis(1000),
                    retry_period: Duration::from_millis(100),
                },
            );
            let work_log = log.clone();
            let work = move |stop: CancellationToken| {
                let log = work_log.clone();
                async move {
                    log.lock().unwrap().push((who, "start", Instant::now()));
                    let _running = Running { who, log };
                    // a controller that does not react to the token (stuck on the API too)
                    let _ = stop;
                    std::future::pending::<()>().await;
                }
            };
            electors.push(tokio::spawn(run_while_leader(
                elector,
                Metrics::new(),
                shutdown.clone(),
                work,
            )));
            if who == "a" {
                // a leads first
                let deadline = Instant::now() + Duration::from_secs(5);
                while !log.lock().unwrap().iter().any(|e| e.0 == "a") {
                    assert!(Instant::now() < deadline, "a never led");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stalls[0].store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !log
            .lock()
            .unwrap()
            .iter()
            .any(|e| (e.0, e.1) == ("b", "start"))
        {
            assert!(
                Instant::now() < deadline,
                "b never took over: {:?}",
                log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let events: Vec<(&str, &str)> = log.lock().unwrap().iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(
            events,
            [("a", "start"), ("a", "stop"), ("b", "start")],
            "one leader at a time"
        );
        shutdown.cancel();
        for e in electors {
            e.abort();
        }
    }

    #[tokio::test]
    async fn work_runs_while_leading_and_the_lease_is_released_on_shutdown() {
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let (log_tx, mut log) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(serve_lease(handle, log_tx));
        let elector = Elector::new(
            Client::new(svc, "default"),
            LeaseConfig {
                namespace: "ops".into(),
                name: "mvo".into(),
                identity: "me".into(),
                lease_duration: Duration::from_secs(15),
                renew_deadline: Duration::from_secs(10),
                retry_period: Duration::from_millis(50),
            },
        );
        let metrics = Metrics::new();
        let shutdown = CancellationToken::new();
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let (stopped_tx, mut stopped) = tokio::sync::mpsc::unbounded_channel();
        let elected = tokio::spawn(run_while_leader(
            elector,
            metrics.clone(),
            shutdown.clone(),
            move |stop: CancellationToken| {
                let started = started_tx.clone();
                let stopped = stopped_tx.clone();
                async move {
                    let _ = started.send(());
                    stop.cancelled().await;
                    let _ = stopped.send(());
                }
            },
        ));
        tokio::time::timeout(Duration::from_secs(5), started.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            metrics
                .encode()
                .unwrap()
                .contains("model_validation_leader 1")
        );
        // the first GET found nothing, the POST created ours
        assert_eq!(log.recv().await.unwrap(), (Method::GET, None));
        assert_eq!(log.recv().await.unwrap(), (Method::POST, Some("me".into())));
        // it keeps renewing while it leads
        let mut puts = 0;
        while puts < 2 {
            let (m, holder) = log.recv().await.unwrap();
            assert_eq!(holder.as_deref(), Some("me"));
            if m == Method::PUT {
                puts += 1;
            }
        }
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), stopped.recv())
            .await
            .unwrap()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), elected)
            .await
            .unwrap()
            .unwrap();
        assert!(
            metrics
                .encode()
                .unwrap()
                .contains("model_validation_leader 0")
        );
        // the last write gave the Lease up
        let mut last = None;
        while let Ok(entry) = log.try_recv() {
            last = Some(entry);
        }
        assert_eq!(last, Some((Method::PUT, None)));
    }
}
