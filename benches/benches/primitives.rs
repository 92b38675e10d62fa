//! Raw in-memory throughput of the hash implementations the engine could use, on 1 MiB
//! buffers: RustCrypto `sha2`/`blake2`, `aws-lc-rs` SHA-256, `blake3` (one thread and rayon).
//! This is the measurement behind the engine's choice of implementation (see README).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::Digest as _;

fn bench_primitives(c: &mut Criterion) {
    let data: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("primitive-1MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("sha256/sha2", |b| b.iter(|| sha2::Sha256::digest(&data)));
    g.bench_function("sha256/aws-lc-rs", |b| {
        b.iter(|| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data))
    });
    g.bench_function("blake2b/blake2", |b| {
        b.iter(|| blake2::Blake2b512::digest(&data))
    });
    g.bench_function("blake3/1-thread", |b| b.iter(|| blake3::hash(&data)));
    g.bench_function("blake3/rayon", |b| {
        b.iter(|| blake3::Hasher::new().update_rayon(&data).finalize())
    });
    g.finish();
}

criterion_group!(benches, bench_primitives);
criterion_main!(benches);
