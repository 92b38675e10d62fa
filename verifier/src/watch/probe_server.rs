//! The probe endpoints, a tiny HTTP/1.1 responder on `std::net`: `GET /ready` (200 while the
//! model verifies, 503 otherwise), `GET /healthz` (200 while the process runs), 404 for anything
//! else. One short-lived thread per connection, at most [`MAX_CONNECTIONS`] at a time; a client
//! that sends nothing is dropped after [`READ_TIMEOUT`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// Connections served at the same time; more are closed at once.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request head read.
const MAX_HEAD: usize = 8 << 10;

/// What the probes report.
#[derive(Debug, Default)]
pub struct ProbeState {
    ready: AtomicBool,
}

impl ProbeState {
    /// Sets readiness.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// The status line and body for a request head (pure).
pub fn respond(head: &[u8], ready: bool) -> (&'static str, &'static str) {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_ascii_whitespace();
    let (method, target) = (parts.next(), parts.next());
    let path = target.map(|t| t.split('?').next().unwrap_or_default());
    match (method, path) {
        (Some("GET"), Some("/ready")) if ready => ("200 OK", "ready\n"),
        (Some("GET"), Some("/ready")) => ("503 Service Unavailable", "not ready\n"),
        (Some("GET"), Some("/healthz")) => ("200 OK", "ok\n"),
        _ => ("404 Not Found", "not found\n"),
    }
}

/// Binds the probe port (`0` picks a free one) on all interfaces, and serves it on a thread.
pub fn serve(port: u16, state: Arc<ProbeState>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(("0.0.0.0", port))?;
    let addr = listener.local_addr()?;
    let active = Arc::new(AtomicUsize::new(0));
    thread::Builder::new()
        .name("probes".into())
        .stack_size(64 << 10)
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
                let (state, done) = (state.clone(), active.clone());
                let spawned = thread::Builder::new()
                    .name("probe".into())
                    .stack_size(64 << 10)
                    .spawn(move || {
                        let _ = answer(stream, &state);
                        done.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    // The closure (and its stream) is gone: the connection is closed.
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })?;
    Ok(addr)
}

fn answer(mut stream: TcpStream, state: &ProbeState) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let (status, body) = respond(&head, state.is_ready());
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_ready_and_healthz_answer() {
        let cases: [(&[u8], bool, &str); 9] = [
            (b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n", true, "200 OK"),
            (
                b"GET /ready HTTP/1.1\r\n\r\n",
                false,
                "503 Service Unavailable",
            ),
            (b"GET /ready?verbose=1 HTTP/1.0\r\n\r\n", true, "200 OK"),
            (b"GET /healthz HTTP/1.1\r\n\r\n", false, "200 OK"),
            (b"POST /ready HTTP/1.1\r\n\r\n", true, "404 Not Found"),
            (b"GET /readyz HTTP/1.1\r\n\r\n", true, "404 Not Found"),
            (b"GET / HTTP/1.1\r\n\r\n", true, "404 Not Found"),
            (b"", true, "404 Not Found"),
            (b"\xff\xfe garbage", true, "404 Not Found"),
        ];
        for (head, ready, want) in cases {
            assert_eq!(
                respond(head, ready).0,
                want,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
