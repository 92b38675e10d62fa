//! A `ModelValidation` as the API server (or a `--dev` file) hands it over: deserialization, the
//! spec validation the webhook and the controller run ([`ModelValidationSpec::check`]), the
//! verifier command line built from it, and the decoding of whatever `status` is stored
//! ([`ModelValidationStatus::from_stored`]).
//!
//! Beyond "never panics":
//! * a spec that passes `check` yields a command line, and the verifier parses that command line
//!   back to the same command (what the pod runs is what the spec says);
//! * a spec serialises and deserialises to itself;
//! * decoding a status never fails, counts are never negative, and the status the controller
//!   writes back decodes as not needing a rewrite and to itself (no endless rewrite loop).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use model_validation_operator::crd::{
    ModelValidation, ModelValidationSpec, ModelValidationStatus, parse_interval,
};
use mv_shared::verify::VerifyCommand;
use serde_json::Value;

fn check_spec(spec: &ModelValidationSpec) {
    let again: ModelValidationSpec =
        serde_json::from_value(serde_json::to_value(spec).expect("a spec serialises"))
            .expect("a serialised spec deserialises");
    assert_eq!(&again, spec, "spec round trip");
    let _ = spec.continuous_interval();
    let _ = spec.paths_needed();
    let _ = spec.signature_path();
    if let Some(c) = &spec.continuous_validation {
        let _ = parse_interval(&c.interval);
    }
    let log = Path::new(mv_shared::TERMINATION_LOG);
    match spec.check() {
        Ok(method) => {
            let _ = (method.name(), method.auth_method());
            let command = spec
                .verify_command(Some(log))
                .expect("a spec that passes check has a command line");
            assert_eq!(command.method.name(), method.name());
            let args = command.to_args();
            let parsed = VerifyCommand::try_parse_args(&args)
                .unwrap_or_else(|e| panic!("the verifier refuses {args:?}: {e}"));
            assert_eq!(parsed, command, "{args:?} parses to another command");
        }
        Err(e) => {
            let _ = (e.reason(), e.to_string());
            assert!(spec.verify_command(Some(log)).is_err());
        }
    }
}

fn check_status(stored: &Value) {
    let status = ModelValidationStatus::from_stored(stored);
    for n in [
        status.injected_pod_count,
        status.uninjected_pod_count,
        status.orphaned_pod_count,
        status.verified_pod_count,
        status.failed_pod_count,
        status.tampered_pod_count,
    ] {
        assert!(n >= 0, "negative count in {status:?}");
    }
    let _ = status.merge_patch();
    // What the controller writes back reads as final, and stays so.
    let written = serde_json::to_value(&status).expect("a status serialises");
    let reread = ModelValidationStatus::from_stored(&written);
    assert!(
        !reread.normalized,
        "rewritten status still normalized: {written}"
    );
    let again = ModelValidationStatus::from_stored(
        &serde_json::to_value(&reread).expect("a status serialises"),
    );
    assert_eq!(again, reread, "status does not settle: {written}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    check_status(&value);
    if let Some(stored) = value.get("status") {
        check_status(stored);
    }
    if let Ok(spec) = serde_json::from_value::<ModelValidationSpec>(value.clone()) {
        check_spec(&spec);
    }
    if let Some(spec) = value.get("spec")
        && let Ok(spec) = serde_json::from_value::<ModelValidationSpec>(spec.clone())
    {
        check_spec(&spec);
    }
    if let Ok(mv) = serde_json::from_slice::<ModelValidation>(data) {
        check_spec(&mv.spec);
        if let Some(status) = &mv.status {
            assert!(status.injected_pod_count >= 0);
        }
    }
});
