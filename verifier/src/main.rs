//! `model-verifier`: command-line entry point.

fn main() {
    println!("model-verifier {}", env!("CARGO_PKG_VERSION"));
}
