//! Hashing throughput benchmark (filled in with the hashing engine).
fn main() {}
