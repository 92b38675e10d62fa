//! model-validation-operator: filled in by the operator issues.

fn main() {
    println!("model-validation-operator {}", env!("CARGO_PKG_VERSION"));
}
