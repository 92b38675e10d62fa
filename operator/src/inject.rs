//! What the webhook injects: the verifier container for a ModelValidation and a pod (its
//! arguments, the read-only mounts that hold the paths it needs, the `subPathExpr` env those
//! mounts expand, the restricted security context), and the JSON patch that puts it and the
//! project's annotations into the pod.
//!
//! Pure functions: the admission decision ([`crate::admission`]) and the controller's tamper
//! check ([`crate::controller`]) both build the container here, so they cannot disagree.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation, RemoveOperation};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, PodSpec, ResourceRequirements, SeccompProfile,
    SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;
use mv_shared::{INIT_CONTAINER_NAME, TERMINATION_LOG};
use serde_json::{Value, json};

use crate::crd::{Mode, ModelValidation, SpecError};

/// What the webhook injects, from the operator's flags.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectConfig {
    /// The verifier image.
    pub verifier_image: String,
    /// The container command; the arguments `verify ...` follow it.
    pub verifier_command: Vec<String>,
    /// Resources when the ModelValidation sets none.
    pub default_resources: ResourceRequirements,
    /// The operator's own namespace: never required, whatever its labels say.
    pub operator_namespace: Option<String>,
}

impl InjectConfig {
    /// The defaults: requests 100m CPU / 128Mi, limits 1 CPU / 512Mi.
    pub fn new(verifier_image: impl Into<String>) -> Self {
        let q = |s: &str| Quantity(s.to_owned());
        Self {
            verifier_image: verifier_image.into(),
            verifier_command: vec![DEFAULT_VERIFIER_COMMAND.to_owned()],
            default_resources: ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".to_owned(), q("100m")),
                    ("memory".to_owned(), q("128Mi")),
                ])),
                limits: Some(BTreeMap::from([
                    ("cpu".to_owned(), q("1")),
                    ("memory".to_owned(), q("512Mi")),
                ])),
                ..Default::default()
            },
            operator_namespace: None,
        }
    }
}

/// Path of the verifier binary in its image.
pub const DEFAULT_VERIFIER_COMMAND: &str = "/usr/local/bin/model-verifier";

/// Prefix of every annotation this project writes on pods.
pub const ANNOTATION_PREFIX: &str = "validation.ml.sigstore.dev/";

/// User the injected container runs as when the pod asks for root (the verifier image's user).
pub const NON_ROOT_UID: i64 = 65532;

/// The container this webhook injects, and the warnings to return with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    /// The `model-validation` init container.
    pub container: Container,
    /// Admission warnings (Warn mode: paths no volume holds, a taken probe port).
    pub warnings: Vec<String>,
}

/// Why no verifier container can be built for a pod (the pod is denied with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The spec fails the checks the CRD's CEL rules mirror.
    #[error("ModelValidation {namespace}/{name} cannot be used: {source}")]
    Unusable {
        /// The ModelValidation's namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// What is wrong with its spec.
        #[source]
        source: SpecError,
    },
    /// Enforce mode: paths the verifier needs that no volume of the pod holds.
    #[error(
        "ModelValidation {namespace}/{name} needs {} but no volume mounted in the pod's containers holds {}: the verifier could not read {}",
        display_paths(paths),
        it_or_them(paths),
        it_or_them(paths)
    )]
    Uncovered {
        /// The ModelValidation's namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The paths no mount holds.
        paths: Vec<PathBuf>,
    },
    /// Enforce mode with continuous validation: an app container declares the sidecar's port.
    #[error(
        "ModelValidation {namespace}/{name} has continuousValidation: its verifier sidecar serves its probes on port {port} of the pod, but container {container:?} declares that port"
    )]
    PortTaken {
        /// The ModelValidation's namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The container declaring the port.
        container: String,
        /// The sidecar's probe port.
        port: u16,
    },
    /// A needed mount's `subPathExpr` uses a variable its container does not set with `env`.
    #[error(
        "volume mount {mount} at {path} uses subPathExpr {expr:?} but variable {variable} is not set by an env entry of container {container} (envFrom is not copied): the verifier could not expand it; set it with env"
    )]
    SubPathVariableUnset {
        /// The volume's name.
        mount: String,
        /// Where it is mounted.
        path: String,
        /// The expression.
        expr: String,
        /// The variable.
        variable: String,
        /// The container the mount came from (`?` if none).
        container: String,
    },
    /// Two needed mounts expand one variable defined differently by their containers.
    #[error(
        "volume mounts needed by the verifier use subPathExpr variable {variable} with different definitions in different containers: the verifier can have only one"
    )]
    SubPathVariableConflict {
        /// The variable.
        variable: String,
    },
    /// Serializing the container or the patch failed (a bug).
    #[error("internal error: cannot encode the {what}: {detail}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// serde_json's message.
        detail: Box<str>,
    },
}

fn display_paths(paths: &[PathBuf]) -> String {
    let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    list.join(", ")
}

fn it_or_them(paths: &[PathBuf]) -> &'static str {
    if paths.len() == 1 { "it" } else { "them" }
}

/// The verifier container for `mv` in a pod with `spec` (without any `model-validation`
/// container): what the webhook injects and what the controller expects to find. `Err` is the
/// reason the pod is denied.
pub fn injection(
    mv: &ModelValidation,
    spec: &PodSpec,
    config: &InjectConfig,
) -> Result<Injection, InjectError> {
    let namespace = mv.namespace().unwrap_or_default();
    let name = mv.name_any();
    let unusable = |source| InjectError::Unusable {
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    mv.spec.check().map_err(unusable)?;
    let command = mv
        .spec
        .verify_command(Some(Path::new(TERMINATION_LOG)))
        .map_err(unusable)?;
    let selection = verifier_mounts(mv, spec);
    let mut problems = Vec::new();
    if !selection.uncovered.is_empty() {
        problems.push(InjectError::Uncovered {
            namespace: namespace.clone(),
            name: name.clone(),
            paths: selection.uncovered.clone(),
        });
    }
    if mv.spec.continuous_interval().is_some()
        && let Some(container) = crate::sidecar::port_taken_by(spec)
    {
        problems.push(InjectError::PortTaken {
            namespace,
            name,
            container,
            port: crate::sidecar::AGENT_HEALTH_PORT,
        });
    }
    // Enforce: the first problem denies the pod; Warn: each is a warning.
    if mv.spec.mode == Mode::Enforce && !problems.is_empty() {
        return Err(problems.swap_remove(0));
    }
    let warnings = problems.iter().map(ToString::to_string).collect();
    let env = subpath_env(&selection.mounts, &spec.containers)?;
    let mut args = vec!["verify".to_owned()];
    args.extend(command.to_args());
    Ok(Injection {
        container: verifier_container(mv, spec, config, args, env, selection.mounts),
        warnings,
    })
}

/// The mounts the verifier gets for `mv` in a pod with `spec`: only those that make the paths
/// it needs visible (as the app containers see them), read-only.
pub fn verifier_mounts(mv: &ModelValidation, spec: &PodSpec) -> MountSelection {
    let app_mounts: Vec<VolumeMount> = spec
        .containers
        .iter()
        .flat_map(|c| c.volume_mounts.clone().unwrap_or_default())
        .collect();
    select_mounts(&app_mounts, &mv.spec.paths_needed())
}

/// The container itself: the one-shot verifier, or with continuous validation the same
/// container as a native sidecar running `watch`.
fn verifier_container(
    mv: &ModelValidation,
    spec: &PodSpec,
    config: &InjectConfig,
    args: Vec<String>,
    env: Vec<EnvVar>,
    mounts: Vec<VolumeMount>,
) -> Container {
    let mut security_context = restricted_security_context();
    // The pod asks for root: the verifier still runs as its image's non-root user, else the
    // kubelet would refuse `runAsNonRoot` and the pod would never start.
    if spec.security_context.as_ref().and_then(|s| s.run_as_user) == Some(0) {
        security_context.run_as_user = Some(NON_ROOT_UID);
    }
    let one_shot = Container {
        name: INIT_CONTAINER_NAME.to_owned(),
        image: Some(config.verifier_image.clone()),
        command: Some(config.verifier_command.clone()),
        args: Some(args),
        image_pull_policy: mv.spec.image_pull_policy.map(|p| p.as_str().to_owned()),
        env: (!env.is_empty()).then_some(env),
        volume_mounts: Some(mounts),
        resources: Some(
            mv.spec
                .resources
                .clone()
                .unwrap_or_else(|| config.default_resources.clone()),
        ),
        security_context: Some(security_context),
        termination_message_path: Some(TERMINATION_LOG.to_owned()),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Default::default()
    };
    match mv.spec.continuous_interval() {
        Some(interval) => crate::sidecar::into_sidecar(
            one_shot,
            interval,
            mv.spec.mode,
            mv.spec.resources.clone(),
        ),
        None => one_shot,
    }
}

/// Names referenced as `$(NAME)` in a Kubernetes expansion string (`$$` escapes a `$`).
pub(crate) fn referenced_vars(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
        } else if let Some(open) = after.strip_prefix('(')
            && let Some(close) = open.find(')')
        {
            out.push(open[..close].to_owned());
            rest = &open[close + 1..];
        } else {
            rest = after;
        }
    }
    out
}

/// The env vars the `subPathExpr` of `mounts` expand, copied from the app container each mount
/// came from (with the vars their values refer to). The kubelet expands `subPathExpr` with the
/// container's own env, so without them it refuses to start the verifier.
fn subpath_env(
    mounts: &[VolumeMount],
    containers: &[Container],
) -> Result<Vec<EnvVar>, InjectError> {
    let mut out: Vec<EnvVar> = Vec::new();
    for m in mounts {
        let Some(expr) = m.sub_path_expr.as_deref() else {
            continue;
        };
        // the container select_mounts took it from: the first one with that mount
        let source = containers.iter().find(|c| {
            c.volume_mounts.iter().flatten().any(|v| {
                v.name == m.name
                    && normalise(Path::new(&v.mount_path)) == normalise(Path::new(&m.mount_path))
                    && v.sub_path_expr.as_deref() == Some(expr)
            })
        });
        let env = source.and_then(|c| c.env.clone()).unwrap_or_default();
        let mut wanted = referenced_vars(expr);
        let mut i = 0;
        while let Some(name) = wanted.get(i).cloned() {
            i += 1;
            // the last definition wins, as in the kubelet
            let Some(var) = env.iter().rev().find(|e| e.name == name) else {
                return Err(InjectError::SubPathVariableUnset {
                    mount: m.name.clone(),
                    path: m.mount_path.clone(),
                    expr: expr.to_owned(),
                    variable: name,
                    container: source.map_or("?", |c| c.name.as_str()).to_owned(),
                });
            };
            for r in var
                .value
                .as_deref()
                .map(referenced_vars)
                .unwrap_or_default()
            {
                if !wanted.contains(&r) && env.iter().any(|e| e.name == r) {
                    wanted.push(r);
                }
            }
            match out.iter().find(|e| e.name == name) {
                Some(have) if have != var => {
                    return Err(InjectError::SubPathVariableConflict { variable: name });
                }
                Some(_) => {}
                None => out.push(var.clone()),
            }
        }
    }
    // Vars referenced by other vars' values must come first (the kubelet expands in order).
    let order: Vec<&str> = containers
        .iter()
        .flat_map(|c| c.env.iter().flatten())
        .map(|e| e.name.as_str())
        .collect();
    out.sort_by_key(|e| order.iter().position(|n| *n == e.name));
    Ok(out)
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

/// The restricted Pod Security Standard, for the injected container.
pub fn restricted_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            localhost_profile: None,
        }),
        ..Default::default()
    }
}

/// The mounts chosen for the verifier and the paths no mount holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MountSelection {
    /// Mounts to give the verifier: read-only, parents before children.
    pub mounts: Vec<VolumeMount>,
    /// Needed paths that no mount holds.
    pub uncovered: Vec<PathBuf>,
}

/// Lexically normalised absolute path (`.`/`..` resolved, trailing `/` dropped).
pub(crate) fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Chooses the mounts that make `needed` visible as in the app containers.
///
/// For each needed path, the most specific mount holding it (the one the app container sees
/// there) plus every mount nested below it (a model directory may span several volumes).
/// Mounts at `/` are never copied (they cannot be mounted over the verifier's root). Mounts
/// are deduplicated by path (first container wins), forced read-only, and ordered parents
/// first so nested mounts land on top of their parents.
pub fn select_mounts(mounts: &[VolumeMount], needed: &[PathBuf]) -> MountSelection {
    let mut unique: Vec<(PathBuf, &VolumeMount)> = Vec::new();
    for m in mounts {
        let path = normalise(Path::new(&m.mount_path));
        if path == Path::new("/") || unique.iter().any(|(p, _)| *p == path) {
            continue;
        }
        unique.push((path, m));
    }
    let mut chosen: Vec<usize> = Vec::new();
    let mut uncovered = Vec::new();
    for need in needed {
        let need_n = normalise(need);
        let holder = unique
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| need_n.starts_with(p))
            .max_by_key(|(_, (p, _))| p.components().count())
            .map(|(i, _)| i);
        match holder {
            Some(i) => chosen.push(i),
            None => uncovered.push(need.clone()),
        }
        for (i, (p, _)) in unique.iter().enumerate() {
            if p != &need_n && p.starts_with(&need_n) {
                chosen.push(i);
            }
        }
    }
    chosen.sort_unstable();
    chosen.dedup();
    let mut picked: Vec<(PathBuf, VolumeMount)> = chosen
        .into_iter()
        .filter_map(|i| unique.get(i))
        .map(|(p, m)| {
            let mut m = (*m).clone();
            m.read_only = Some(true);
            // Bidirectional propagation needs a privileged container; the verifier only reads.
            m.mount_propagation = None;
            m.recursive_read_only = None;
            (p.clone(), m)
        })
        .collect();
    picked.sort_by_key(|(p, _)| p.components().count());
    uncovered.dedup();
    MountSelection {
        mounts: picked.into_iter().map(|(_, m)| m).collect(),
        uncovered,
    }
}

/// The patch operations that put `container` last among the init containers: appended, or
/// (re-invocation, `existing` its index) moved to the end when later webhooks appended init
/// containers after it, which would run after it and could change the model it checked.
pub fn container_ops(
    spec: &PodSpec,
    existing: Option<usize>,
    container: &Container,
) -> Result<Vec<PatchOperation>, InjectError> {
    let encode = |c: &Container| {
        serde_json::to_value(c).map_err(|e| InjectError::Encode {
            what: "container",
            detail: e.to_string().into(),
        })
    };
    let count = spec.init_containers.as_ref().map_or(0, Vec::len);
    Ok(match existing {
        Some(i) if i + 1 == count => Vec::new(),
        Some(i) => {
            let index = i.to_string();
            vec![
                PatchOperation::Remove(RemoveOperation {
                    path: PointerBuf::from_tokens(["spec", "initContainers", index.as_str()]),
                }),
                add(&["spec", "initContainers", "-"], encode(container)?),
            ]
        }
        // after the existing init containers (e.g. KServe's storage-initializer)
        None if spec.init_containers.is_none() => {
            vec![add(
                &["spec", "initContainers"],
                json!([encode(container)?]),
            )]
        }
        None => vec![add(&["spec", "initContainers", "-"], encode(container)?)],
    })
}

/// The patch operation that labels a pod `validation.ml.sigstore.dev/ml: <name>`: a pod a
/// podSelector chose then names its ModelValidation like a labelled one (the controller watches
/// labelled pods; a re-invocation finds the same ModelValidation).
pub fn label_op(existing: Option<&BTreeMap<String, String>>, name: &str) -> PatchOperation {
    match existing {
        Some(_) => add(
            &["metadata", "labels", mv_shared::POD_LABEL],
            Value::String(name.to_owned()),
        ),
        None => add(
            &["metadata", "labels"],
            json!({ mv_shared::POD_LABEL: name }),
        ),
    }
}

/// The patch operations that make the pod's annotations of the project's prefix exactly
/// `notes`: values the pod brought are overwritten, other keys of the prefix removed, so no
/// pod-supplied value can pass as the webhook's.
pub fn annotation_ops(
    existing: Option<&BTreeMap<String, String>>,
    notes: &[(&str, String)],
) -> Vec<PatchOperation> {
    let Some(existing) = existing else {
        let map: serde_json::Map<String, Value> = notes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        return vec![add(&["metadata", "annotations"], Value::Object(map))];
    };
    let mut ops = Vec::new();
    for key in existing.keys() {
        if key.starts_with(ANNOTATION_PREFIX) && !notes.iter().any(|(k, _)| k == key) {
            ops.push(PatchOperation::Remove(RemoveOperation {
                path: PointerBuf::from_tokens(["metadata", "annotations", key.as_str()]),
            }));
        }
    }
    for (k, v) in notes {
        if existing.get(*k) != Some(v) {
            ops.push(add(
                &["metadata", "annotations", k],
                Value::String(v.clone()),
            ));
        }
    }
    ops
}
