//! Prints the `ModelValidation` CRD as YAML. CI regenerates
//! `config/crd/bases/ml.sigstore.dev_modelvalidations.yaml` with it and fails on a diff:
//! `cargo run -p model-validation-operator --bin crdgen > config/crd/bases/ml.sigstore.dev_modelvalidations.yaml`

use std::io::Write;

fn main() -> anyhow::Result<()> {
    let yaml = model_validation_operator::crd::crd_yaml()?;
    std::io::stdout().lock().write_all(yaml.as_bytes())?;
    Ok(())
}
