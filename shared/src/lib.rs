//! The contract between the `model-validation-operator` and `model-verifier`.
//!
//! Everything both sides must agree on lives here, so a change to one side that would break the
//! other fails to compile (or fails the round-trip tests) instead of failing in a cluster:
//!
//! * the Kubernetes names: API group, labels, annotations, the injected container's name;
//! * the `verify` command line: [`verify::VerifyCommand`] is the type the verifier's CLI parses
//!   *and* the type the operator renders into the injected container's arguments.

// House rule (issue 19): no function over 120 lines of code outside tests.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

pub mod signer;
mod sigstore_flags;
pub mod verify;
pub mod walk;

/// API group of the `ModelValidation` custom resource.
pub const API_GROUP: &str = "ml.sigstore.dev";
/// API version of the `ModelValidation` custom resource.
pub const API_VERSION: &str = "v1alpha1";
/// Kind of the custom resource.
pub const KIND: &str = "ModelValidation";

/// Pod label that asks for verification. `"true"` selects the single `ModelValidation` of the
/// pod's namespace; any other value names the `ModelValidation` to use.
pub const POD_LABEL: &str = "validation.ml.sigstore.dev/ml";
/// The value of [`POD_LABEL`] that selects the only `ModelValidation` of the namespace.
pub const POD_LABEL_ANY: &str = "true";
/// Namespace label that switches injection off for the whole namespace (value `"true"`).
pub const NAMESPACE_IGNORE_LABEL: &str = "validation.ml.sigstore.dev/ignore";

/// Namespace label that makes verification required (value `"true"`): every pod of the
/// namespace must be covered by a `ModelValidation` (label or `spec.podSelector`), or it is denied.
pub const NAMESPACE_ENFORCE_LABEL: &str = "validation.ml.sigstore.dev/enforce";

/// Name of the init container the webhook injects.
pub const INIT_CONTAINER_NAME: &str = "model-validation";

/// Annotations the webhook writes on the pods it mutates.
pub mod annotations {
    /// Name of the `ModelValidation` the pod was verified against.
    pub const MODEL_VALIDATION: &str = "validation.ml.sigstore.dev/model-validation";
    /// `metadata.generation` of that `ModelValidation` when the pod was created.
    pub const GENERATION: &str = "validation.ml.sigstore.dev/generation";
    /// Verification method (`sigstore`, `key`, `certificate`).
    pub const METHOD: &str = "validation.ml.sigstore.dev/method";
}

/// Path inside the injected container where the verifier writes its one-line JSON result, the
/// Kubernetes default `terminationMessagePath`.
pub const TERMINATION_LOG: &str = "/dev/termination-log";
