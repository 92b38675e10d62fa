//! The real operator binary in `--dev --dev-model-validations FILE` mode: no cluster, the
//! webhook over TLS injects with the ModelValidations of the file; bad use exits 2.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_model-validation-operator");
use crate::support::FIXTURE;
const MVS: &str = r#"
apiVersion: ml.sigstore.dev/v1alpha1
kind: ModelValidation
metadata:
  name: llama
  namespace: models
spec:
  model:
    path: /data/model
  config:
    publicKeyConfig:
      keyPath: /etc/model-keys/key.pub
---
apiVersion: ml.sigstore.dev/v1alpha1
kind: ModelValidation
metadata:
  name: elsewhere
  namespace: team-b
spec:
  model:
    path: /models/m
  config:
    sigstoreConfig:
      certificateIdentity: me@example.com
      certificateOidcIssuer: https://accounts.example.com
"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child on drop (SIGTERM first so it removes its temporary certificate directory).
struct Operator {
    child: Child,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Started {
    operator: Operator,
    /// Its self-signed certificate (the path is in its JSON log).
    cert: PathBuf,
    /// The log lines before the certificate's.
    early: Vec<Value>,
    /// The later log lines as they come.
    logs: mpsc::Receiver<Value>,
}

/// A kubeconfig whose API server is `listener`: any contact shows up as an accepted connection.
fn kubeconfig_pointing_at(dir: &Path, listener: &TcpListener) -> PathBuf {
    let port = listener.local_addr().unwrap().port();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: x\n\
             clusters: [{{name: c, cluster: {{server: \"https://127.0.0.1:{port}\", insecure-skip-tls-verify: true}}}}]\n\
             users: [{{name: u, user: {{token: t}}}}]\n\
             contexts: [{{name: x, context: {{cluster: c, user: u, namespace: default}}}}]\n"
        ),
    )
    .unwrap();
    path
}

fn contacted(listener: &TcpListener, within: Duration) -> bool {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + within;
    loop {
        if listener.accept().is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(mv_file: Option<&Path>, kubeconfig: &Path, webhook: u16, probes: u16) -> Started {
    let mut command = Command::new(BIN);
    command.arg("--dev");
    if let Some(file) = mv_file {
        command.arg("--dev-model-validations").arg(file);
    }
    let mut child = command
        .args([
            "--webhook-bind-address",
            &format!("127.0.0.1:{webhook}"),
            "--health-probe-bind-address",
            &format!("127.0.0.1:{probes}"),
            "--metrics-bind-address",
            "0",
            "--log-format",
            "json",
        ])
        .env("KUBECONFIG", kubeconfig)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let operator = Operator { child };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut early = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the operator logged no certificate path: {early:?}"));
        if let Some(cert) = line["cert"].as_str() {
            return Started {
                operator,
                cert: PathBuf::from(cert),
                early,
                logs: rx,
            };
        }
        early.push(line);
    }
}

async fn wait_ready(client: &reqwest::Client, probes: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{probes}/readyz"))
            .send()
            .await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz never answered 200");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// Multi-threaded so the dropped clients' connections close while `Operator::drop` blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_injects_with_the_file_and_no_cluster() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mv_file = dir.path().join("mvs.yaml");
    std::fs::write(&mv_file, MVS).unwrap();
    let (webhook, probes) = (free_port(), free_port());
    // A cluster that records contact; the file mode must never call it.
    let api_server = TcpListener::bind("127.0.0.1:0").unwrap();
    let kubeconfig = kubeconfig_pointing_at(dir.path(), &api_server);
    let Started {
        operator,
        cert,
        early,
        logs,
    } = start(Some(&mv_file), &kubeconfig, webhook, probes);
    let loaded = early
        .iter()
        .find(|l| l["count"].is_number())
        .unwrap_or_else(|| panic!("no line about the loaded file: {early:?}"));
    assert_eq!(loaded["count"], 2);
    assert_eq!(
        loaded["model_validations"],
        "models/llama, team-b/elsewhere"
    );

    let plain = reqwest::Client::new();
    wait_ready(&plain, probes).await;
    // `--metrics-bind-address 0` turns /metrics off: the probe port does not serve it
    // (before issue 16 it did).
    let metrics = plain
        .get(format!("http://127.0.0.1:{probes}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 404);
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap()])
        .build()
        .unwrap();
    let url = format!("https://localhost:{webhook}/mutate-v1-pod");
    let review: Value = client
        .post(&url)
        .header("content-type", "application/json")
        .body(FIXTURE)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = &review["response"];
    assert_eq!(response["uid"], "7f0e3a1c-2b7d-4c55-9d0e-5f2b8a6c1d01");
    assert_eq!(response["allowed"], true, "{review}");
    assert_eq!(response["patchType"], "JSONPatch");
    use base64::Engine as _;
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    let ops: Value = serde_json::from_slice(&patch).unwrap();
    let container = &ops[0]["value"][0];
    assert_eq!(container["name"], "model-validation");
    let args = container["args"].to_string();
    assert!(args.contains("/etc/model-keys/key.pub"), "{args}");

    // A pod in a namespace the file gives no ModelValidation is denied, as on a cluster.
    let other_ns = FIXTURE.replace("\"models\"", "\"team-c\"");
    let review: Value = client
        .post(&url)
        .body(other_ns)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(review["response"]["allowed"], false, "{review}");
    assert_eq!(review["response"]["status"]["code"], 403);

    // The admission log lines of the real process say the same.
    let mut outcomes = Vec::new();
    while outcomes.len() < 2 {
        let line = logs
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("admissions not logged, got {outcomes:?}"));
        if let Some(o) = line["outcome"].as_str() {
            outcomes.push((o.to_owned(), line["model_validation"].clone()));
        }
    }
    assert_eq!(outcomes[0], ("injected".to_owned(), Value::from("llama")));
    assert_eq!(outcomes[1].0, "denied");

    assert!(
        !contacted(&api_server, Duration::from_millis(500)),
        "--dev-model-validations contacted the cluster of the kubeconfig"
    );
    // Idle keep-alive connections would hold the graceful shutdown for its grace period.
    drop(client);
    drop(plain);
    drop(operator);
    assert!(
        !cert.exists(),
        "the dev certificate directory outlived the operator"
    );
}

/// The control: plain `--dev` with the same kubeconfig does contact the cluster, so the check
/// above can fail.
#[test]
fn plain_dev_mode_uses_the_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let api_server = TcpListener::bind("127.0.0.1:0").unwrap();
    let kubeconfig = kubeconfig_pointing_at(dir.path(), &api_server);
    let started = start(None, &kubeconfig, free_port(), free_port());
    assert!(
        contacted(&api_server, Duration::from_secs(20)),
        "plain --dev never contacted the kubeconfig's API server"
    );
    drop(started.operator);
}

fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_use_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, MVS).unwrap();
    // Only together with --dev.
    let (code, err) = run_to_exit(&["--dev-model-validations", good.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--dev"), "{err}");
    // A file an API server would reject: exit 2, the message says which object and why.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, MVS.replace("/etc/model-keys/key.pub", "key.pub")).unwrap();
    let (code, err) = run_to_exit(&["--dev", "--dev-model-validations", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("models/llama"), "{err}");
    assert!(err.contains("must be an absolute path"), "{err}");
    let (code, err) = run_to_exit(&["--dev", "--dev-model-validations", "/nonexistent/mvs.yaml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/nonexistent/mvs.yaml"), "{err}");
}
