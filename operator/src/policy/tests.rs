use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;

fn mv(name: &str, pod_selector: Option<Value>) -> Arc<ModelValidation> {
    let mut spec = json!({
        "model": {"path": "/models/m"},
        "config": {"publicKeyConfig": {"keyPath": "/keys/k.pem"}}
    });
    if let Some(s) = pod_selector {
        spec["podSelector"] = s;
    }
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "ml.sigstore.dev/v1alpha1",
            "kind": "ModelValidation",
            "metadata": {"name": name, "namespace": "team"},
            "spec": spec
        }))
        .unwrap(),
    )
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What `select` answered, in a comparable shape.
#[derive(Debug, PartialEq)]
enum Got {
    Covered(&'static str, Via),
    Uncovered,
    Refused(&'static str),
}

fn got(r: Result<Option<Selected>, Unselectable>, names: &[&'static str]) -> Got {
    match r {
        Ok(Some(s)) => {
            let name = s.model_validation.name_any();
            Got::Covered(names.iter().find(|n| **n == name).unwrap(), s.via)
        }
        Ok(None) => Got::Uncovered,
        Err(e) => Got::Refused(match e {
            Unselectable::EmptyLabel { .. } => "EmptyLabel",
            Unselectable::NoModelValidation { .. } => "NoModelValidation",
            Unselectable::SeveralModelValidations { .. } => "SeveralModelValidations",
            Unselectable::NotFound { .. } => "NotFound",
            Unselectable::LabelAgainstSelector { .. } => "LabelAgainstSelector",
            Unselectable::SeveralSelectors { .. } => "SeveralSelectors",
            Unselectable::Required { .. } => "Required",
        }),
    }
}

#[test]
fn selection_and_precedence() {
    let app = Some(json!({"matchLabels": {"app": "llm"}}));
    let all = Some(json!({}));
    let not_batch = Some(
        json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["batch"]}]}),
    );
    let broken = Some(json!({"matchExpressions": [{"key": "tier", "operator": "Near"}]}));
    type Case = (
        &'static str,
        Vec<(&'static str, Option<Value>)>,
        Vec<(&'static str, &'static str)>,
        bool,
        Got,
    );
    let cases: Vec<Case> = vec![
        // the label, as before
        (
            "label names one",
            vec![("a", None), ("b", None)],
            vec![(POD_LABEL, "a")],
            false,
            Got::Covered("a", Via::Label),
        ),
        (
            "label true, one",
            vec![("a", None)],
            vec![(POD_LABEL, "true")],
            false,
            Got::Covered("a", Via::Label),
        ),
        (
            "label true, none",
            vec![],
            vec![(POD_LABEL, "true")],
            false,
            Got::Refused("NoModelValidation"),
        ),
        (
            "label true, several",
            vec![("a", None), ("b", None)],
            vec![(POD_LABEL, "true")],
            false,
            Got::Refused("SeveralModelValidations"),
        ),
        (
            "label names a missing one",
            vec![("a", None)],
            vec![(POD_LABEL, "b")],
            false,
            Got::Refused("NotFound"),
        ),
        (
            "empty label",
            vec![("a", None)],
            vec![(POD_LABEL, "")],
            false,
            Got::Refused("EmptyLabel"),
        ),
        (
            "no label, nothing selects",
            vec![("a", None)],
            vec![("app", "llm")],
            false,
            Got::Uncovered,
        ),
        // podSelector
        (
            "selector selects",
            vec![("a", None), ("s", app.clone())],
            vec![("app", "llm")],
            false,
            Got::Covered("s", Via::PodSelector),
        ),
        (
            "selector does not select",
            vec![("s", app.clone())],
            vec![("app", "web")],
            false,
            Got::Uncovered,
        ),
        (
            "empty selector selects all",
            vec![("s", all.clone())],
            vec![],
            false,
            Got::Covered("s", Via::PodSelector),
        ),
        (
            "NotIn selects the absent key",
            vec![("s", not_batch.clone())],
            vec![],
            false,
            Got::Covered("s", Via::PodSelector),
        ),
        (
            "NotIn leaves the listed value",
            vec![("s", not_batch.clone())],
            vec![("tier", "batch")],
            false,
            Got::Uncovered,
        ),
        (
            "two selectors",
            vec![("s", app.clone()), ("t", all.clone())],
            vec![("app", "llm")],
            false,
            Got::Refused("SeveralSelectors"),
        ),
        (
            "In without values selects all",
            vec![(
                "s",
                Some(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            )],
            vec![],
            false,
            Got::Covered("s", Via::PodSelector),
        ),
        (
            "an invalid selector selects all",
            vec![("s", broken.clone())],
            vec![("x", "y")],
            false,
            Got::Covered("s", Via::PodSelector),
        ),
        // the label and a selector
        (
            "label agrees with the selector",
            vec![("s", app.clone())],
            vec![(POD_LABEL, "s"), ("app", "llm")],
            false,
            Got::Covered("s", Via::Label),
        ),
        (
            "label true agrees with the selector",
            vec![("s", app.clone())],
            vec![(POD_LABEL, "true"), ("app", "llm")],
            false,
            Got::Covered("s", Via::Label),
        ),
        (
            "label picks another than the selector",
            vec![("a", None), ("s", app.clone())],
            vec![(POD_LABEL, "a"), ("app", "llm")],
            false,
            Got::Refused("LabelAgainstSelector"),
        ),
        (
            "label picks another, selector not selecting",
            vec![("a", None), ("s", app.clone())],
            vec![(POD_LABEL, "a"), ("app", "web")],
            false,
            Got::Covered("a", Via::Label),
        ),
        // required namespaces
        (
            "required, nothing covers",
            vec![("a", None)],
            vec![],
            true,
            Got::Refused("Required"),
        ),
        (
            "required, no ModelValidation",
            vec![],
            vec![],
            true,
            Got::Refused("Required"),
        ),
        (
            "required, the label covers",
            vec![("a", None)],
            vec![(POD_LABEL, "a")],
            true,
            Got::Covered("a", Via::Label),
        ),
        (
            "required, a selector covers",
            vec![("s", app.clone())],
            vec![("app", "llm")],
            true,
            Got::Covered("s", Via::PodSelector),
        ),
        (
            "required, the selector misses",
            vec![("s", app.clone())],
            vec![("app", "web")],
            true,
            Got::Refused("Required"),
        ),
        (
            "required, label errors stay label errors",
            vec![],
            vec![(POD_LABEL, "true")],
            true,
            Got::Refused("NoModelValidation"),
        ),
    ];
    for (what, mvs, pod, required, want) in cases {
        let names: Vec<&'static str> = mvs.iter().map(|(n, _)| *n).collect();
        let candidates: Vec<Arc<ModelValidation>> =
            mvs.into_iter().map(|(n, s)| mv(n, s)).collect();
        let r = select(&labels(&pod), "team", &candidates, required);
        assert_eq!(got(r, &names), want, "{what}");
    }
}

#[test]
fn messages_name_what_is_missing() {
    let candidates = vec![
        mv("b", None),
        mv("a", Some(json!({"matchLabels": {"app": "x"}}))),
    ];
    let err = select(&labels(&[]), "team", &candidates, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "namespace team requires model verification (label validation.ml.sigstore.dev/enforce=\"true\") but no ModelValidation covers this pod: label it validation.ml.sigstore.dev/ml=<name of a ModelValidation> or create a ModelValidation whose spec.podSelector selects it (the namespace has: a, b)"
    );
    let err = select(&labels(&[]), "team", &[], true).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("selects it (the namespace has none)"),
        "{err}"
    );
    let err = select(
        &labels(&[(POD_LABEL, "b"), ("app", "x")]),
        "team",
        &candidates,
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "pod has label validation.ml.sigstore.dev/ml=\"b\" but ModelValidation team/a selects it by spec.podSelector: a pod is verified under one ModelValidation; set the label to \"a\" or remove it"
    );
}

#[test]
fn required_namespaces() {
    let cases = [
        ("team", true, Some("mv-system"), true),
        ("team", false, None, false),
        ("kube-system", true, None, false),
        ("kube-node-lease", true, None, false),
        ("mv-system", true, Some("mv-system"), false),
    ];
    for (ns, enforced, operator, want) in cases {
        assert_eq!(required(ns, enforced, operator), want, "{ns} {enforced}");
    }
}
