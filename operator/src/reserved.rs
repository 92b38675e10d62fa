//! The container name `model-validation` is reserved for the verifier the webhook injects: where
//! in a pod spec it appears. The webhook and the controller ask the same questions.

use k8s_openapi::api::core::v1::PodSpec;
use mv_shared::INIT_CONTAINER_NAME;

/// Whether a regular or an ephemeral container carries the reserved name (the webhook injects
/// only an init container of that name).
pub fn named_outside_init_containers(spec: &PodSpec) -> bool {
    spec.containers
        .iter()
        .any(|c| c.name == INIT_CONTAINER_NAME)
        || spec
            .ephemeral_containers
            .iter()
            .flatten()
            .any(|c| c.name == INIT_CONTAINER_NAME)
}

/// Whether an init container carries the reserved name.
pub fn in_init_containers(spec: Option<&PodSpec>) -> bool {
    spec.and_then(|s| s.init_containers.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.name == INIT_CONTAINER_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_reserved_name_is_found_where_it_stands() {
        let spec = |v: serde_json::Value| -> PodSpec { serde_json::from_value(v).unwrap() };
        let app = json!({"name": "app"});
        let v = json!({"name": INIT_CONTAINER_NAME});
        // spec | outside init containers | in init containers
        let cases = [
            (json!({"containers": [app]}), false, false),
            (
                json!({"containers": [app], "initContainers": [v]}),
                false,
                true,
            ),
            (json!({"containers": [app, v]}), true, false),
            (
                json!({"containers": [app], "ephemeralContainers": [v]}),
                true,
                false,
            ),
        ];
        for (s, outside, init) in cases {
            let label = s.to_string();
            let s = spec(s);
            assert_eq!(named_outside_init_containers(&s), outside, "{label}");
            assert_eq!(in_init_containers(Some(&s)), init, "{label}");
        }
        assert!(!in_init_containers(None));
    }
}
