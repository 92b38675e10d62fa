//! What several test modules share.

/// An AdmissionReview of a pod CREATE (the label names ModelValidation `demo`).
pub(crate) const FIXTURE: &str = include_str!("../fixtures/create-pod.json");

use std::sync::Arc;

use model_validation_operator::crd::{ModelValidation, ModelValidationSpec};
use serde_json::Value;

/// ModelValidation `models/only` (generation 1) with `spec`.
pub(crate) fn model_validation(spec: Value) -> Arc<ModelValidation> {
    let spec: ModelValidationSpec = serde_json::from_value(spec).unwrap();
    let mut mv = ModelValidation::new("only", spec);
    mv.metadata.namespace = Some("models".into());
    mv.metadata.generation = Some(1);
    Arc::new(mv)
}
