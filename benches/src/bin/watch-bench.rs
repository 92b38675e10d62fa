//! `make bench-watch`: the steady state of continuous validation.
//!
//! - In process (the library's `Checker`, as `watch` runs it): the full first check, then the
//!   cheap re-check of an unchanged model, wall time and CPU time per check, for 10,000 files of
//!   16 KiB and for 2 GiB in 4 files; the same re-check walking paths (`--no-inotify`, or
//!   whenever descriptors cannot be held) and the floor of any path walk, for comparison.
//! - The real `model-verifier watch` process: idle RSS and CPU between checks, descriptors it
//!   holds and the kernel's `filp` objects they cost (from `/proc/slabinfo`, when readable), and
//!   the time from an in-place change of one file to `/ready` answering 503 (inotify), over
//!   loopback HTTP.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use model_verifier::method::key::KeyVerifier;
use model_verifier::model::{ModelSpec, signing_payload};
use model_verifier::sign::{SigningKey, key_bundle};
use model_verifier::verify::VerifyOptions;
use model_verifier::watch::check::{CheckMode, Checker, Verdict};

#[derive(Debug, Parser)]
#[command(about = "Benchmark of model-verifier watch: re-check cost, idle cost, drift latency")]
struct Args {
    /// The release `model-verifier` binary.
    #[arg(long)]
    verifier: PathBuf,
    /// Where the models are generated (kept between runs; about 2.2 GB).
    #[arg(long, default_value = "/var/tmp/mv-bench-watch")]
    workdir: PathBuf,
    /// Cheap re-checks timed per model.
    #[arg(long, default_value_t = 200)]
    checks: usize,
    /// Seconds of idle sampled for RSS and CPU.
    #[arg(long, default_value_t = 20)]
    idle_seconds: u64,
    /// Drift trials per model.
    #[arg(long, default_value_t = 5)]
    trials: usize,
}

struct Model {
    label: &'static str,
    dir: PathBuf,
    sig: PathBuf,
    /// A file to change for the drift trials.
    victim: PathBuf,
}

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}

fn prepare(workdir: &Path, label: &'static str, count: usize, size: u64) -> Result<Model> {
    let dir = workdir.join(label);
    let done = workdir.join(format!("{label}.done"));
    if !done.exists() {
        let _ = fs::remove_dir_all(&dir);
        eprintln!("generating {label}: {count} x {size} bytes");
        model_verifier_benches::write_model(&dir, count, size)?;
        fs::write(&done, b"")?;
    }
    let sig = workdir.join(format!("{label}.sig"));
    let key = SigningKey::from_pem(&fs::read(testdata("keys/signing-key.pem"))?, None)?;
    let mut spec = ModelSpec::new(&dir);
    spec.signature_path = Some(sig.clone());
    let payload = signing_payload(&spec)?;
    fs::write(&sig, key_bundle(&key, &payload.payload)?.to_json())?;
    let victim = dir.join("part-00000.bin");
    Ok(Model {
        label,
        dir,
        sig,
        victim,
    })
}

/// CPU time of the calling thread, from the scheduler (nanoseconds).
fn thread_cpu_ns() -> Result<u64> {
    let text = fs::read_to_string("/proc/thread-self/schedstat")?;
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .context("malformed /proc/thread-self/schedstat")
}

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: u32) -> Result<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = text.rsplit_once(") ").context("malformed stat")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    Ok(f[11].parse::<u64>()? + f[12].parse::<u64>()?)
}

fn rss_kib(pid: u32, field: &str) -> Result<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no RSS line")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The floor of any metadata walk: `readdir` and one `statx` per entry, nothing kept.
fn bare_walk(dir: &Path) -> Result<u64> {
    let mut n = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        n += meta.len() & 1;
        if meta.is_dir() {
            n += bare_walk(&entry.path())?;
        }
    }
    Ok(n)
}

/// Cheap re-checks of an unchanged model: (first full check in seconds, wall ms sorted, mean CPU
/// ms, how many looked through held descriptors). The thread's CPU time is read once around all
/// checks: the scheduler updates it at ticks and preemptions (4 ms apart on an idle machine), so
/// per-check readings are quantized.
fn rechecks(m: &Model, checks: usize, hold: bool) -> Result<(f64, Vec<f64>, f64, usize)> {
    let public = fs::read(testdata("keys/signing-key.pub"))?;
    let args = VerifyOptions::new(&m.dir, &m.sig);
    let mut checker = Checker::new(args, vec![testdata("keys/signing-key.pub")], || {
        KeyVerifier::from_pem(&public).map_err(|e| e.to_string())
    })
    .hold_files(hold);
    let t = Instant::now();
    let first = checker.check(CheckMode::Full);
    let full_s = t.elapsed().as_secs_f64();
    if first.verdict != Verdict::Verified {
        bail!("{}: first check failed: {:?}", m.label, first.verdict);
    }
    let mut wall = Vec::with_capacity(checks);
    let mut held = 0;
    let c0 = thread_cpu_ns()?;
    for _ in 0..checks {
        let t = Instant::now();
        let r = checker.check(CheckMode::Cheap);
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        if r.verdict != Verdict::Verified || r.files_read != 0 || r.full {
            bail!("{}: a re-check of an unchanged model read files", m.label);
        }
        held += usize::from(r.held);
    }
    let cpu = (thread_cpu_ns()? - c0) as f64 / 1e6 / checks as f64;
    wall.sort_by(f64::total_cmp);
    Ok((full_s, wall, cpu, held))
}

fn in_process(m: &Model, checks: usize) -> Result<String> {
    let (full_s, wall, cpu, held) = rechecks(m, checks, true)?;
    let (_, walked_wall, walked, _) = rechecks(m, checks, false)?;
    let c0 = thread_cpu_ns()?;
    for _ in 0..checks {
        std::hint::black_box(bare_walk(&m.dir)?);
    }
    let floor = (thread_cpu_ns()? - c0) as f64 / 1e6 / checks as f64;
    Ok(format!(
        "| {} | {:.2} s | {held}/{checks} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        m.label,
        full_s,
        percentile(&wall, 0.5),
        percentile(&wall, 0.9),
        cpu,
        percentile(&walked_wall, 0.5),
        walked,
        floor,
    ))
}

struct Agent {
    child: Child,
    port: u16,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ready(port: u16) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(s, "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
        return 0;
    }
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    r.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn wait_ready(port: u16, want: u16, limit: Duration) -> Result<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if ready(port) == want {
            return Ok(t.elapsed());
        }
        thread::sleep(Duration::from_millis(2));
    }
    bail!("/ready did not answer {want} within {limit:?}")
}

fn start(verifier: &Path, m: &Model) -> Result<Agent> {
    let mut child = Command::new(verifier)
        .args([
            "watch",
            "--health-port",
            "0",
            "--interval",
            "1h",
            "verify",
            "key",
        ])
        .arg(&m.dir)
        .arg("--signature")
        .arg(&m.sig)
        .arg("--public_key")
        .arg(testdata("keys/signing-key.pub"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("stderr")?;
    let port = Arc::new(Mutex::new(None));
    let found = port.clone();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(p) = line.split("0.0.0.0:").nth(1) {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(mut slot) = found.lock() {
                    *slot = digits.parse::<u16>().ok();
                }
            }
        }
    });
    let t = Instant::now();
    loop {
        if let Some(p) = port.lock().ok().and_then(|p| *p) {
            return Ok(Agent { child, port: p });
        }
        if t.elapsed() > Duration::from_secs(10) {
            bail!("no probe port printed");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn poke(path: &Path, byte: u8) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.seek(SeekFrom::Start(4096))?;
    f.write_all(&[byte])?;
    Ok(())
}

/// Active objects of the kernel's `filp` cache (one per open file description), when
/// `/proc/slabinfo` can be read.
fn filp_objects() -> Option<(u64, u64)> {
    let text = fs::read_to_string("/proc/slabinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("filp "))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    Some((f.get(1)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

fn process(args: &Args, m: &Model) -> Result<String> {
    let filp0 = filp_objects();
    let agent = start(&args.verifier, m)?;
    let to_ready = wait_ready(agent.port, 200, Duration::from_secs(120))?;
    thread::sleep(Duration::from_secs(2));
    let pid = agent.child.id();
    // What the process holds once it settled after the first check.
    let fds = fs::read_dir(format!("/proc/{pid}/fd"))?.count();
    let filp = match (filp0, filp_objects()) {
        (Some((before, size)), Some((after, _))) => format!(
            "{:+.1} MiB",
            (after as f64 - before as f64) * size as f64 / (1 << 20) as f64
        ),
        _ => "n/a".to_owned(),
    };
    let ticks0 = process_ticks(pid)?;
    thread::sleep(Duration::from_secs(args.idle_seconds));
    let idle_ticks = process_ticks(pid)? - ticks0;
    let rss = rss_kib(pid, "VmRSS:")?;
    let hwm = rss_kib(pid, "VmHWM:")?;
    let anon = rss_kib(pid, "RssAnon:")?;
    let file = rss_kib(pid, "RssFile:")?;
    let original = {
        let mut b = [0u8; 1];
        let mut f = fs::File::open(&m.victim)?;
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(4096))?;
        f.read_exact(&mut b)?;
        b[0]
    };
    let mut drift = Vec::new();
    for _ in 0..args.trials {
        poke(&m.victim, original ^ 0xff)?;
        drift.push(wait_ready(agent.port, 503, Duration::from_secs(60))?.as_secs_f64() * 1e3);
        poke(&m.victim, original)?;
        wait_ready(agent.port, 200, Duration::from_secs(60))?;
        thread::sleep(Duration::from_millis(300));
    }
    drift.sort_by(f64::total_cmp);
    Ok(format!(
        "| {} | {:.2} s | {:.1} MiB ({:.1} heap and stacks + {:.1} binary) | {:.1} MiB | {fds} | {filp} | {} ticks in {} s | {:.0} ms | {:.0} ms |",
        m.label,
        to_ready.as_secs_f64(),
        rss as f64 / 1024.0,
        anon as f64 / 1024.0,
        file as f64 / 1024.0,
        hwm as f64 / 1024.0,
        idle_ticks,
        args.idle_seconds,
        percentile(&drift, 0.5),
        drift[drift.len() - 1],
    ))
}

fn main() -> Result<()> {
    let args = Args::parse();
    fs::create_dir_all(&args.workdir)?;
    let models = [
        prepare(&args.workdir, "10000-files", 10_000, 16 << 10)?,
        prepare(&args.workdir, "2GiB-4-files", 4, 512 << 20)?,
    ];
    println!(
        "In process (`Checker`), {} cheap re-checks of the unchanged model:\n",
        args.checks
    );
    println!(
        "| model | first (full) check | through descriptors | re-check p50 | p90 | CPU mean | path walk (`--no-inotify`) p50 | its CPU mean | limit of a path walk: bare readdir + statx, CPU mean |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &models {
        println!("{}", in_process(m, args.checks)?);
    }
    println!(
        "\nThe `model-verifier watch` process (`--interval 1h`, inotify), {} drift trials:\n",
        args.trials
    );
    println!(
        "| model | start to ready | idle RSS | peak RSS | open descriptors | kernel `filp` objects | CPU while idle | change to NotReady p50 | max |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &models {
        println!("{}", process(&args, m)?);
    }
    Ok(())
}
