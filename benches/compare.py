#!/usr/bin/env python3
"""Side-by-side verification benchmark: model-verifier vs Python model_signing vs the hardware.

Run with `make bench-compare` (builds the release binary and the Python venv first), or:

    python3 benches/compare.py --verifier target/release/model-verifier \
        --python-venv ~/.cache/model-validation-operator/venv [--quick]

Every scenario is measured in the same run, interleaving the tools, and reported as medians
(wall seconds) with peak RSS (the kernel's ru_maxrss of each process, page-cache pages mapped by
the process included). Ratios are checked against the project's targets; the exit code is 1 when
a target is missed, so regressions show.

Scenarios:
  tiny          one small file: start-up cost
  small-files   10,000 x 16 KiB
  large-warm    2 GiB in 4 files, page cache warm
  large-cold    the same, page cache dropped before each run (drop_caches when allowed, else
                posix_fadvise DONTNEED per file); model-verifier also with `--cold-reads cached`
  shards        one 2 GiB file signed with shards (Python API; the Python CLI cannot verify it)
  blake3        the same file signed with BLAKE3 (Python API)
Hardware limits measured in the same run: `openssl dgst -sha256` with one process per core over
the same files (warm), `cat` over the files (cold).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1 << 20


def run(cmd: list[str]) -> str:
    """Runs a set-up command (not measured); fails loudly."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stdout}")
    return proc.stdout


def timed(cmd: list[str]) -> tuple[float, int]:
    """Runs a command; returns (wall seconds, its peak RSS in KiB).

    The RSS comes from GNU time: a process forked from this Python interpreter would inherit
    the interpreter's resident pages until exec, and the kernel's ru_maxrss keeps that peak.
    """
    with tempfile.NamedTemporaryFile("r") as rss:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *map(str, cmd)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr}")
        return wall, int(rss.read().split()[-1])


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size == size:
        return
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MIB)
            f.write(os.urandom(n))
            left -= n


def files_of(model: Path) -> list[Path]:
    return sorted(p for p in model.rglob("*") if p.is_file()) if model.is_dir() else [model]


def evict(model: Path) -> None:
    """Drops the model's pages from the page cache (no privileges needed for clean pages)."""
    os.sync()  # dirty pages (a freshly written model) cannot be dropped
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
        return
    except OSError:
        pass
    for p in files_of(model):
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm(model: Path) -> None:
    for p in files_of(model):
        with open(p, "rb") as f:
            while f.read(8 * MIB):
                pass


def openssl_parallel(files: list[Path], procs: int) -> list[str]:
    """A shell command hashing the files with one openssl process per core (files split evenly)."""
    groups = [files[i::procs] for i in range(procs)]
    parts = [
        "openssl dgst -sha256 " + " ".join(f"'{p}'" for p in g) + " >/dev/null &"
        for g in groups
        if g
    ]
    return ["bash", "-c", " ".join(parts) + " wait"]


PY_API_VERIFY = """
import sys
from model_signing import hashing, verifying
model, sig, pub, kind, shard = sys.argv[1:6]
h = hashing.Config()
if kind == "shards":
    h = h.use_shard_serialization(shard_size=int(shard))
else:
    h = h.use_file_serialization(hashing_algorithm=kind)
h = h.set_ignored_paths(paths=[sig], ignore_git_paths=True)
verifying.Config().use_elliptic_key_verifier(public_key=pub).set_hashing_config(h).verify(model, sig)
"""

PY_API_SIGN = """
import sys
from model_signing import hashing, signing
model, sig, key, kind, shard = sys.argv[1:6]
h = hashing.Config()
if kind == "shards":
    h = h.use_shard_serialization(shard_size=int(shard))
else:
    h = h.use_file_serialization(hashing_algorithm=kind)
signing.Config().use_elliptic_key_signer(private_key=key).set_hashing_config(h).sign(model, sig)
"""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.mv = str(Path(args.verifier).resolve())
        self.venv = Path(args.python_venv)
        self.py = str(self.venv / "bin" / "python")
        self.ms = str(self.venv / "bin" / "model_signing")
        self.work = Path(args.workdir)
        self.quick = args.quick
        self.cores = os.cpu_count() or 1
        self.rows: list[dict] = []
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.work.mkdir(parents=True, exist_ok=True)
        self.key = self.work / "key.pem"
        self.pub = self.work / "key.pub"
        if not self.pub.exists():
            subprocess.run(
                ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", self.key],
                check=True,
            )
            subprocess.run(
                ["openssl", "ec", "-in", self.key, "-pubout", "-out", self.pub],
                check=True,
                capture_output=True,
            )

    def sign_cli(self, model: Path, sig: Path) -> None:
        if not sig.exists():
            run([self.ms, "sign", "key", str(model), "--private_key", str(self.key), "--signature", str(sig)])

    def sign_api(self, model: Path, sig: Path, kind: str, shard: int) -> None:
        if not sig.exists():
            run([self.py, "-c", PY_API_SIGN, str(model), str(sig), str(self.key), kind, str(shard)])

    def measure(self, name: str, cmds: dict[str, list[str]], runs: int, before=None) -> dict:
        samples: dict[str, list[tuple[float, int]]] = {k: [] for k in cmds}
        for _ in range(runs):
            for tool, cmd in cmds.items():  # interleaved, so drift hits every tool alike
                if before:
                    before(tool)
                samples[tool].append(timed(cmd))
        row = {"scenario": name}
        for tool, s in samples.items():
            row[tool] = statistics.median(w for w, _ in s)
            row[tool + "_rss"] = max(r for _, r in s) / 1024
        self.rows.append(row)
        print(f"  {name}: " + ", ".join(f"{t} {row[t]:.3f}s/{row[t + '_rss']:.1f}MiB" for t in cmds), flush=True)
        return row

    def target(self, label: str, ok: bool, detail: str) -> None:
        print(f"  target {'met ' if ok else 'MISSED'}: {label}: {detail}")
        if not ok:
            self.failures.append(f"{label}: {detail}")

    def verify_cmds(self, model: Path, sig: Path, api_kind: str | None = None, shard: int = 0) -> dict[str, list[str]]:
        mv = [self.mv, "verify", "key", str(model), "--signature", str(sig), "--public_key", str(self.pub)]
        if api_kind is None:
            py = [self.ms, "verify", "key", str(model), "--signature", str(sig), "--public_key", str(self.pub)]
        else:
            py = [self.py, "-c", PY_API_VERIFY, str(model), str(sig), str(self.pub), api_kind, str(shard)]
        return {"model-verifier": mv, "python": py}

    def run_all(self) -> int:
        w = self.work
        large_size = (256 if self.quick else 2048) * MIB
        small_count = 1000 if self.quick else 10000

        print("tiny: one small file", flush=True)
        tiny = w / "tiny"
        write_random(tiny / "config.json", 512)
        self.sign_cli(tiny, w / "tiny.sig")
        r = self.measure("tiny (1 x 512 B)", self.verify_cmds(tiny, w / "tiny.sig"), 5 if self.quick else 15)
        self.target("tiny: >= 50x faster than Python", r["python"] / r["model-verifier"] >= 50,
                    f"{r['python'] / r['model-verifier']:.1f}x")

        print(f"small files: {small_count} x 16 KiB", flush=True)
        small = w / f"small-{small_count}"
        if not (small / f"f{small_count - 1:05}.bin").exists():
            for i in range(small_count):
                write_random(small / f"d{i % 100:02}" / f"f{i:05}.bin", 16 * 1024)
        self.sign_cli(small, w / f"small-{small_count}.sig")
        r = self.measure(f"small files ({small_count} x 16 KiB)", self.verify_cmds(small, w / f"small-{small_count}.sig"), 3 if self.quick else 5)
        self.target("small files: >= 10x faster than Python", r["python"] / r["model-verifier"] >= 10,
                    f"{r['python'] / r['model-verifier']:.1f}x")

        print(f"large: {large_size // MIB} MiB in 4 files", flush=True)
        large = w / f"large-{large_size // MIB}"
        for i in range(4):
            write_random(large / f"model-{i:05}-of-00004.safetensors", large_size // 4)
        self.sign_cli(large, w / f"large-{large_size // MIB}.sig")
        cmds = self.verify_cmds(large, w / f"large-{large_size // MIB}.sig")
        cmds["openssl-parallel"] = openssl_parallel(files_of(large), self.cores)
        warm(large)
        r = self.measure("large warm (4 files)", cmds, 3 if self.quick else 5)
        self.target("large warm: within 10% of parallel openssl", r["model-verifier"] <= 1.10 * r["openssl-parallel"],
                    f"{r['model-verifier'] / r['openssl-parallel']:.2f}x of openssl")
        self.target("large warm: >= 1.4x faster than Python", r["python"] / r["model-verifier"] >= 1.4,
                    f"{r['python'] / r['model-verifier']:.2f}x")
        sha_rate = large_size / r["model-verifier"]

        cmds = self.verify_cmds(large, w / f"large-{large_size // MIB}.sig")
        cmds["model-verifier --cold-reads cached"] = cmds["model-verifier"] + ["--cold-reads", "cached"]
        cmds["cat"] = ["bash", "-c", "cat " + " ".join(f"'{p}'" for p in files_of(large)) + " >/dev/null"]
        r = self.measure("large cold (4 files)", cmds, 2 if self.quick else 3, before=lambda _t: evict(large))
        self.target("large cold: >= 1.6x faster than Python", r["python"] / r["model-verifier"] >= 1.6,
                    f"{r['python'] / r['model-verifier']:.2f}x")
        cached = r["model-verifier --cold-reads cached"]
        self.notes.append(f"large cold with `--cold-reads cached` (through the page cache): {cached:.3f} s, "
                          f"{r['python'] / cached:.2f}x Python, {cached / r['model-verifier']:.2f}x the direct reads' time")

        print(f"one {large_size // MIB} MiB file, shards and BLAKE3", flush=True)
        single = w / f"single-{large_size // MIB}"
        write_random(single / "model.bin", large_size)
        shard = 64 * MIB
        self.sign_api(single, w / "single-shards.sig", "shards", shard)
        self.sign_api(single, w / "single-blake3.sig", "blake3", 0)
        warm(single)
        r_sh = self.measure("one file, sha256 shards of 64 MiB", self.verify_cmds(single, w / "single-shards.sig", "shards", shard), 3 if self.quick else 5)
        r_b3 = self.measure("one file, blake3", self.verify_cmds(single, w / "single-blake3.sig", "blake3"), 3 if self.quick else 5)
        self.target("blake3: >= 3x the SHA-256 rate", r_sh["model-verifier"] / r_b3["model-verifier"] >= 3,
                    f"{r_sh['model-verifier'] / r_b3['model-verifier']:.2f}x of sharded SHA-256 "
                    f"({large_size / r_b3['model-verifier'] / MIB:.0f} vs {sha_rate / MIB:.0f} MiB/s)")

        worst_rss = max(row["model-verifier_rss"] for row in self.rows)
        self.target("peak RSS <= 16 MiB in every case", worst_rss <= 16, f"{worst_rss:.1f} MiB")
        self.report()
        return 1 if self.failures else 0

    def report(self) -> None:
        cpu = ""
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        print()
        print(f"Measured {datetime.date.today()} on {platform.machine()}, {self.cores} cores ({cpu}), "
              f"Linux {platform.release()}; medians, seconds; peak RSS in MiB.")
        print()
        print("| scenario | model-verifier | Python model_signing 1.1.1 | speed-up | limit | RSS ours / Python |")
        print("|---|---|---|---|---|---|")
        for row in self.rows:
            limit = next((f"{row[k]:.3f} s ({k})" for k in ("openssl-parallel", "cat") if k in row), "")
            print(f"| {row['scenario']} | {row['model-verifier']:.3f} | {row['python']:.3f} | "
                  f"{row['python'] / row['model-verifier']:.1f}x | {limit} | "
                  f"{row['model-verifier_rss']:.1f} / {row['python_rss']:.1f} |")
        for note in self.notes:
            print(note)
        print()
        if self.failures:
            print("targets missed: " + "; ".join(self.failures))
        else:
            print("all targets met")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verifier", default="target/release/model-verifier")
    ap.add_argument("--python-venv", default=os.path.expanduser("~/.cache/model-validation-operator/venv"))
    ap.add_argument("--workdir", default=os.environ.get("MV_BENCH_DIR", "/var/tmp/mv-bench"))
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test of the harness")
    args = ap.parse_args()
    for tool in ("openssl", "bash", "cat", "/usr/bin/time"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is required")
    return Bench(args).run_all()


if __name__ == "__main__":
    sys.exit(main())
