//! Hashing throughput of the engine: files vs shards, SHA-256 / BLAKE2b / BLAKE3, 1..N threads.
//!
//! `cargo bench -p model-verifier-benches` (page cache warm: the model is read once before
//! measuring). Sizes: `MV_BENCH_MIB` total MiB (default 256) in 4 files.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use model_verifier::hashing::{DEFAULT_SHARD_SIZE, HashAlgorithm, HashingConfig, Serialization};
use model_verifier::model::{self, ModelSpec, Selection};

fn bench_hashing(c: &mut Criterion) {
    // Under `cargo test`/nextest (no `--bench` argument) criterion runs each benchmark once as a
    // smoke test: keep the model small there.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mib: u64 = std::env::var("MV_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench_mode { 256 } else { 8 });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    model_verifier_benches::write_model(&dir, 4, (mib << 20) / 4).unwrap();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut threads: Vec<usize> = vec![1];
    let mut t = 2;
    while t <= cores {
        threads.push(t);
        t *= 2;
    }
    if !threads.contains(&cores) {
        threads.push(cores);
    }

    let mut group = c.benchmark_group("hash");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(mib << 20));
    for algorithm in [
        HashAlgorithm::Sha256,
        HashAlgorithm::Blake2b,
        HashAlgorithm::Blake3,
    ] {
        for (label, serialization) in [
            ("files", Serialization::Files),
            (
                "shards-16MiB",
                Serialization::Shards {
                    shard_size: 16 << 20,
                },
            ),
            (
                "shards-default",
                Serialization::Shards {
                    shard_size: DEFAULT_SHARD_SIZE,
                },
            ),
        ] {
            let mut spec = ModelSpec::new(&dir);
            spec.hashing = HashingConfig::new(algorithm, serialization);
            if spec.hashing.serialization != serialization {
                continue; // BLAKE3 is never sharded
            }
            let ignore = spec.ignore_set(&[]).unwrap();
            for &n in &threads {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .unwrap();
                let id = BenchmarkId::new(format!("{}/{label}", algorithm.name()), format!("{n}t"));
                group.bench_function(id, |b| {
                    b.iter(|| {
                        pool.install(|| model::compute(&spec, &ignore, Selection::Walk).unwrap())
                    });
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench_hashing);
criterion_main!(benches);
