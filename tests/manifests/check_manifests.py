#!/usr/bin/env python3
"""Checks the rendered output of one kustomize overlay (config/overlays/<name>).

    check_manifests.py OVERLAY RENDERED.yaml [CERT_DIR]
    check_manifests.py --self-test RENDERED_TESTING.yaml

OVERLAY is production, testing, development, olm or production-monitoring (production plus the
optional service-monitor component). CERT_DIR (testing only) holds the ca.crt the
testing overlay was rendered with. Prints one line per failed property and exits 1 when any
failed, 0 otherwise. Used by tests/manifests/check.sh, which renders every overlay first.
"""

import base64
import subprocess
import sys
import tempfile

import yaml

GROUP = "ml.sigstore.dev"
CRD_NAME = "modelvalidations.ml.sigstore.dev"
POD_LABEL = "validation.ml.sigstore.dev/ml"
IGNORE_LABEL = "validation.ml.sigstore.dev/ignore"
PREFIX = "model-validation-"

EXPECTED = {
    "production": {
        "namespace": "model-validation-operator-system",
        "image": "ghcr.io/model-validation-operator/model-validation-operator:v0.1.0",
        "verifier": "ghcr.io/model-validation-operator/model-verifier:v0.1.0",
        "webhook": True,
        "replicas": 2,
        "network_policy": True,
    },
    "production-monitoring": {
        "namespace": "model-validation-operator-system",
        "image": "ghcr.io/model-validation-operator/model-validation-operator:v0.1.0",
        "verifier": "ghcr.io/model-validation-operator/model-verifier:v0.1.0",
        "webhook": True,
        "replicas": 2,
        "network_policy": True,
        "service_monitor": True,
    },
    "testing": {
        "namespace": "model-validation-operator-test",
        "image": "localhost/model-validation-operator:testing",
        "verifier": "localhost/model-verifier:testing",
        "webhook": True,
        "replicas": 1,
        "network_policy": True,
    },
    "development": {
        "namespace": "model-validation-operator-dev",
        "image": "localhost/model-validation-operator:dev",
        "verifier": "localhost/model-verifier:dev",
        "webhook": False,
        "replicas": 1,
        "network_policy": True,
    },
    "olm": {
        "namespace": "model-validation-operator-system",
        "image": "ghcr.io/model-validation-operator/model-validation-operator:v0.1.0",
        "verifier": "ghcr.io/model-validation-operator/model-verifier:v0.1.0",
        "webhook": True,
        "replicas": 1,
    },
}

# Least privilege: exactly what the operator calls (operator/README.md "API calls"; keep in sync
# with config/rbac/role.yaml). (apiGroup, resource) -> verbs
MANAGER_RULES = {
    (GROUP, "modelvalidations"): {"get", "list", "watch"},
    (GROUP, "modelvalidations/status"): {"patch"},
    ("", "namespaces"): {"list", "watch"},
    # patch: only to remove the upstream operator's pod finalizer
    ("", "pods"): {"list", "watch", "patch"},
    # continuous validation: the sidecar's last state line (container model-validation only)
    ("", "pods/log"): {"get"},
    ("events.k8s.io", "events"): {"create", "patch"},
}
LEADER_RULES = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}

CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
}


class Checker:
    def __init__(self, overlay, docs):
        self.overlay = overlay
        self.docs = docs
        self.failures = []

    def fail(self, msg):
        self.failures.append(msg)

    def expect(self, cond, msg):
        if not cond:
            self.fail(msg)
        return cond

    def of_kind(self, kind):
        return [d for d in self.docs if d.get("kind") == kind]

    def one(self, kind, name=None):
        found = [d for d in self.of_kind(kind) if name is None or d["metadata"]["name"] == name]
        if len(found) != 1:
            self.fail(f"expected exactly one {kind}{' ' + name if name else ''}, found {len(found)}")
            return None
        return found[0]


def image_ok(image):
    """A pinned image: a tag other than latest, or a digest."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] != "latest"


def rules_of(role):
    out = {}
    for r in role.get("rules") or []:
        for g in r.get("apiGroups") or []:
            for res in r.get("resources") or []:
                out.setdefault((g, res), set()).update(r.get("verbs") or [])
    return out


def selector_matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check(overlay, docs, cert_dir=None):
    exp = EXPECTED[overlay]
    c = Checker(overlay, docs)
    ns = exp["namespace"]

    # --- namespace: own, labelled so the webhook never matches the operator itself
    nso = c.one("Namespace", ns)
    if nso:
        labels = nso["metadata"].get("labels") or {}
        c.expect(labels.get(IGNORE_LABEL) == "true", f"Namespace {ns} lacks label {IGNORE_LABEL}: \"true\"")
    for d in docs:
        kind, meta = d.get("kind"), d.get("metadata", {})
        if kind in CLUSTER_SCOPED or kind == "ClusterServiceVersion" and overlay == "olm":
            if kind in CLUSTER_SCOPED:
                c.expect("namespace" not in meta, f"cluster-scoped {kind} {meta.get('name')} has a namespace")
            continue
        c.expect(meta.get("namespace") == ns, f"{kind} {meta.get('name')} is in namespace {meta.get('namespace')!r}, not {ns}")
    for d in docs:
        name = d["metadata"]["name"]
        if d["kind"] not in ("Namespace", "CustomResourceDefinition", "ModelValidation", "ClusterServiceVersion"):
            c.expect(name.startswith(PREFIX), f"{d['kind']} {name} lacks the name prefix {PREFIX}")

    # --- CRD
    crd = c.one("CustomResourceDefinition", CRD_NAME)
    if crd:
        c.expect(crd["spec"].get("group") == GROUP, f"CRD group is {crd['spec'].get('group')}")
        c.expect(crd["spec"].get("scope") == "Namespaced", "CRD is not namespaced")

    # --- Deployment
    dep = c.one("Deployment", PREFIX + "controller-manager")
    pod_labels = {}
    container = {}
    if dep:
        spec = dep["spec"]
        tmpl = spec["template"]
        pod_labels = tmpl["metadata"].get("labels") or {}
        c.expect(selector_matches(spec["selector"].get("matchLabels"), pod_labels), "Deployment selector does not match its pod labels")
        c.expect(spec.get("replicas", 1) == exp["replicas"], f"replicas {spec.get('replicas', 1)}, expected {exp['replicas']}")
        pspec = tmpl["spec"]
        psc = pspec.get("securityContext") or {}
        c.expect(psc.get("runAsNonRoot") is True, "pod securityContext.runAsNonRoot is not true")
        c.expect((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", "pod seccompProfile is not RuntimeDefault")
        for v in pspec.get("volumes") or []:
            mode = (v.get("secret") or {}).get("defaultMode", 0o644)
            if mode & 0o004 == 0:
                c.expect(psc.get("fsGroup") is not None, f"Secret volume {v.get('name')} (mode {mode:o}) is unreadable for a non-root user without fsGroup")
        sa = pspec.get("serviceAccountName")
        c.expect(any(s["metadata"]["name"] == sa for s in c.of_kind("ServiceAccount")), f"ServiceAccount {sa} of the Deployment is not rendered")
        containers = pspec.get("containers") or []
        if c.expect(len(containers) == 1, f"expected 1 container, found {len(containers)}"):
            container = containers[0]
        for ctr in containers + (pspec.get("initContainers") or []):
            c.expect(image_ok(ctr.get("image", "")), f"container {ctr.get('name')} image {ctr.get('image')!r} is not pinned (no tag, or :latest)")
        if container:
            c.expect(container.get("image") == exp["image"], f"operator image {container.get('image')}, expected {exp['image']}")
            sc = container.get("securityContext") or {}
            c.expect(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
            c.expect(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
            c.expect((sc.get("capabilities") or {}).get("drop") == ["ALL"], "capabilities do not drop ALL")
            c.expect("livenessProbe" in container and "readinessProbe" in container, "liveness/readiness probes missing")
            res = container.get("resources") or {}
            for k in ("requests", "limits"):
                c.expect({"cpu", "memory"} <= set((res.get(k) or {}).keys()), f"resources.{k} must set cpu and memory")
            env = {e["name"]: e.get("value") for e in container.get("env") or []}
            args = container.get("args") or []
            c.expect("--verifier-image=$(VERIFIER_IMAGE)" in args, "the verifier image is not passed by flag (--verifier-image=$(VERIFIER_IMAGE))")
            c.expect(env.get("VERIFIER_IMAGE") == exp["verifier"], f"VERIFIER_IMAGE is {env.get('VERIFIER_IMAGE')!r}, expected {exp['verifier']}")
            c.expect(image_ok(env.get("VERIFIER_IMAGE") or ""), "VERIFIER_IMAGE is not pinned")
            c.expect("--leader-elect" in args, "--leader-elect missing")
            ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
            if exp["webhook"]:
                c.expect(ports.get("webhook-server") == 9443, "container port webhook-server 9443 missing")
                c.expect("--webhook-cert-dir=$(WEBHOOK_CERT_DIR)" in args, "--webhook-cert-dir missing")
                c.expect("--disable-webhook" not in args, "--disable-webhook set in a webhook overlay")
            else:
                c.expect("--disable-webhook" in args, "development overlay must pass --disable-webhook")
                c.expect("webhook-server" not in ports, "development overlay exposes a webhook port")

    # --- RBAC: least privilege, no wildcards
    for kind in ("ClusterRole", "Role"):
        for role in c.of_kind(kind):
            for r in role.get("rules") or []:
                for field in ("apiGroups", "resources", "verbs"):
                    c.expect("*" not in (r.get(field) or []), f"{kind} {role['metadata']['name']} uses a wildcard in {field}")
    mgr = c.one("ClusterRole", PREFIX + "manager-role")
    if mgr:
        got = rules_of(mgr)
        c.expect(got == MANAGER_RULES, f"manager ClusterRole rules differ from least privilege: {sorted((k, sorted(v)) for k, v in got.items())}")
    # --- policy is the platform team's: writing ModelValidations is not aggregated into the
    # built-in edit/admin roles every namespace owner has; model-validation-admin is bound explicitly
    writes = {"create", "update", "patch", "delete", "deletecollection"}
    for role in c.of_kind("ClusterRole"):
        labels = role["metadata"].get("labels") or {}
        aggregated = [k for k in ("rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin") if labels.get(k) == "true"]
        for r in role.get("rules") or []:
            if "ml.sigstore.dev" in (r.get("apiGroups") or []) and "modelvalidations" in (r.get("resources") or []):
                c.expect(not (aggregated and writes & set(r.get("verbs") or [])), f"ClusterRole {role['metadata']['name']} lets every namespace {'/'.join(a.rsplit('-', 1)[1] for a in aggregated)} user write ModelValidations")
    admin = c.one("ClusterRole", PREFIX + "admin")
    if admin:
        c.expect(writes <= rules_of(admin).get(("ml.sigstore.dev", "modelvalidations"), set()), "ClusterRole model-validation-admin does not grant writing ModelValidations")
    le = c.one("Role", PREFIX + "leader-election-role")
    if le:
        c.expect(rules_of(le) == LEADER_RULES, "leader-election Role rules differ from leases get/create/update")
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for b in c.of_kind(kind):
            for s in b.get("subjects") or []:
                if s.get("kind") == "ServiceAccount":
                    c.expect(s.get("namespace") == ns, f"{kind} {b['metadata']['name']} binds a ServiceAccount in {s.get('namespace')}")
                    c.expect(dep is None or s.get("name") == dep["spec"]["template"]["spec"].get("serviceAccountName"), f"{kind} {b['metadata']['name']} binds {s.get('name')}, not the Deployment's ServiceAccount")

    # --- Services select the operator's pods
    for svc in c.of_kind("Service"):
        c.expect(selector_matches(svc["spec"].get("selector"), pod_labels) and svc["spec"].get("selector"), f"Service {svc['metadata']['name']} does not select the operator pods")
        for p in svc["spec"].get("ports") or []:
            tp = p.get("targetPort")
            if isinstance(tp, str) and container:
                c.expect(tp in {q.get("name") for q in container.get("ports") or []}, f"Service {svc['metadata']['name']} targets port {tp} the container does not expose")

    # --- the webhook
    mwcs = c.of_kind("MutatingWebhookConfiguration")
    if not exp["webhook"]:
        c.expect(not mwcs, "development overlay must not install a webhook")
    else:
        mwc = c.one("MutatingWebhookConfiguration")
        if mwc:
            check_webhook(c, mwc, ns)
            if overlay == "production":
                check_certmanager(c, mwc, ns, dep)
            if overlay == "testing":
                check_manual_tls(c, mwc, ns, dep, cert_dir)
            if overlay == "olm":
                check_olm(c, container, dep)

    nps = c.of_kind("NetworkPolicy")
    if exp.get("network_policy"):
        np = c.one("NetworkPolicy", PREFIX + "controller-manager")
        if np:
            check_network_policy(c, np, pod_labels, container, exp["webhook"])
    else:
        c.expect(not nps, "unexpected NetworkPolicy")
    sms = c.of_kind("ServiceMonitor")
    if exp.get("service_monitor"):
        sm = c.one("ServiceMonitor")
        if sm:
            check_service_monitor(c, sm)
    else:
        c.expect(not sms, "a ServiceMonitor is rendered although the service-monitor component is optional")

    if overlay.startswith("production"):
        pdb = c.one("PodDisruptionBudget")
        if pdb:
            c.expect(selector_matches(pdb["spec"]["selector"].get("matchLabels"), pod_labels), "the PodDisruptionBudget does not select the operator pods")
            c.expect(pdb["spec"].get("minAvailable") == 1, "PodDisruptionBudget minAvailable is not 1")
    if overlay == "testing" and container:
        c.expect(container.get("imagePullPolicy") == "Never", "testing overlay must never pull (imagePullPolicy Never)")
    return c.failures


ENFORCE_LABEL = "validation.ml.sigstore.dev/enforce"
SYSTEM_NAMESPACES = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "kube-node-lease"]}
POD_RULE = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "Namespaced"}
# name -> (path, failurePolicy, rules, namespaceSelector expressions that must be there, objectSelector expressions)
WEBHOOKS = {
    "pods.validation.ml.sigstore.dev": (
        "/mutate-v1-pod", "Fail", [POD_RULE],
        [{"key": IGNORE_LABEL, "operator": "NotIn", "values": ["true"]},
         {"key": ENFORCE_LABEL, "operator": "NotIn", "values": ["true"]}, SYSTEM_NAMESPACES],
        [{"key": POD_LABEL, "operator": "Exists"}]),
    "required-pods.validation.ml.sigstore.dev": (
        "/mutate-v1-pod-required", "Fail", [POD_RULE],
        [{"key": ENFORCE_LABEL, "operator": "In", "values": ["true"]},
         {"key": IGNORE_LABEL, "operator": "NotIn", "values": ["true"]}, SYSTEM_NAMESPACES],
        None),
    "workloads.validation.ml.sigstore.dev": (
        "/warn-v1-workload", "Ignore",
        [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
          "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "scope": "Namespaced"},
         {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
          "resources": ["jobs", "cronjobs"], "scope": "Namespaced"}],
        [{"key": IGNORE_LABEL, "operator": "NotIn", "values": ["true"]}, SYSTEM_NAMESPACES],
        None),
}


def check_webhook(c, mwc, ns):
    """The three entries (README "Policy"): labelled pods, required namespaces, workload warnings."""
    hooks = mwc.get("webhooks") or []
    names = [h.get("name") for h in hooks]
    if not c.expect(names == list(WEBHOOKS), f"webhook entries {names}, expected {list(WEBHOOKS)}"):
        return
    for h in hooks:
        name = h["name"]
        path, policy, rules, ns_exprs, obj_exprs = WEBHOOKS[name]
        c.expect(h.get("rules") == rules, f"{name}: rules {h.get('rules')}, expected {rules}")
        c.expect(h.get("failurePolicy") == policy, f"{name}: failurePolicy is not {policy}")
        c.expect(h.get("sideEffects") == "None", f"{name}: sideEffects is not None")
        c.expect(isinstance(h.get("timeoutSeconds"), int) and 1 <= h["timeoutSeconds"] <= 10, f"{name}: timeoutSeconds {h.get('timeoutSeconds')} is not short (1-10)")
        if path.startswith("/mutate"):
            c.expect(h.get("reinvocationPolicy") == "IfNeeded", f"{name}: reinvocationPolicy is not IfNeeded")
        c.expect(h.get("admissionReviewVersions") == ["v1"], f"{name}: admissionReviewVersions is not [v1]")
        exprs = (h.get("namespaceSelector") or {}).get("matchExpressions") or []
        for e in ns_exprs:
            c.expect(e in exprs, f"{name}: namespaceSelector lacks {e}")
        oexprs = (h.get("objectSelector") or {}).get("matchExpressions") or []
        if obj_exprs is None:
            c.expect(not oexprs, f"{name}: has an objectSelector (it must see unlabelled pods and workloads)")
        for e in obj_exprs or []:
            c.expect(e in oexprs, f"{name}: objectSelector lacks {e}")
        svc_ref = (h.get("clientConfig") or {}).get("service") or {}
        c.expect(svc_ref.get("path") == path, f"{name}: path {svc_ref.get('path')} is not {path}")
        c.expect(svc_ref.get("namespace") == ns, f"{name}: Service namespace {svc_ref.get('namespace')}, expected {ns}")
        svcs = [s for s in c.of_kind("Service") if s["metadata"]["name"] == svc_ref.get("name")]
        if c.expect(len(svcs) == 1, f"{name}: the webhook's Service {svc_ref.get('name')} is not rendered"):
            ports = [p.get("port") for p in svcs[0]["spec"].get("ports") or []]
            c.expect(svc_ref.get("port", 443) in ports, f"{name}: the webhook Service does not serve port {svc_ref.get('port', 443)}")


def check_network_policy(c, np, pod_labels, container, webhook):
    """Ingress only: the webhook port from anywhere, the metrics port from chosen namespaces."""
    spec = np.get("spec") or {}
    c.expect(spec.get("policyTypes") == ["Ingress"], f"NetworkPolicy policyTypes {spec.get('policyTypes')}, expected [Ingress]")
    c.expect(selector_matches((spec.get("podSelector") or {}).get("matchLabels"), pod_labels) and (spec.get("podSelector") or {}).get("matchLabels"), "the NetworkPolicy does not select the operator pods")
    named = {p.get("name"): p.get("containerPort") for p in (container or {}).get("ports") or []}
    allowed = set()
    for rule in spec.get("ingress") or []:
        ports = rule.get("ports") or []
        if not c.expect(ports, "a NetworkPolicy ingress rule opens every port"):
            continue
        names = {p.get("port") for p in ports}
        c.expect(names <= {"webhook-server", "metrics"}, f"the NetworkPolicy opens ports {sorted(map(str, names))}, only webhook-server and metrics are allowed")
        if "metrics" in names:
            c.expect(bool(rule.get("from")), "the NetworkPolicy opens the metrics port to every source")
        allowed |= names
    c.expect("metrics" in allowed and "metrics" in named, "the NetworkPolicy does not let Prometheus reach the metrics port")
    if webhook:
        c.expect("webhook-server" in allowed, "the NetworkPolicy blocks the webhook port")


def check_service_monitor(c, sm):
    spec = sm.get("spec") or {}
    svcs = [s for s in c.of_kind("Service") if selector_matches((spec.get("selector") or {}).get("matchLabels"), s["metadata"].get("labels") or {})]
    if not c.expect(len(svcs) == 1 and (spec.get("selector") or {}).get("matchLabels"), f"the ServiceMonitor selects {len(svcs)} Services, expected the metrics Service"):
        return
    port_names = {p.get("name") for p in svcs[0]["spec"].get("ports") or []}
    for ep in spec.get("endpoints") or []:
        c.expect(ep.get("port") in port_names, f"the ServiceMonitor scrapes port {ep.get('port')}, the Service has {sorted(port_names)}")
        c.expect(ep.get("path", "/metrics") == "/metrics", "the ServiceMonitor scrapes another path than /metrics")
    c.expect(bool(spec.get("endpoints")), "the ServiceMonitor has no endpoints")


def secret_volume(dep):
    for v in dep["spec"]["template"]["spec"].get("volumes") or []:
        if "secret" in v:
            return v["secret"].get("secretName")
    return None


def check_certmanager(c, mwc, ns, dep):
    cert = c.one("Certificate", PREFIX + "serving-cert")
    if not cert:
        return
    ann = (mwc["metadata"].get("annotations") or {}).get("cert-manager.io/inject-ca-from")
    c.expect(ann == f"{ns}/{cert['metadata']['name']}", f"inject-ca-from {ann!r} does not name the serving Certificate {ns}/{cert['metadata']['name']}")
    svc = mwc["webhooks"][0]["clientConfig"]["service"]["name"]
    want = [f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local"]
    c.expect(cert["spec"].get("dnsNames") == want, f"Certificate dnsNames {cert['spec'].get('dnsNames')}, expected {want}")
    issuers = {i["metadata"]["name"] for i in c.of_kind("Issuer")}
    for crt in c.of_kind("Certificate"):
        c.expect(crt["spec"]["issuerRef"]["name"] in issuers, f"Certificate {crt['metadata']['name']} refers to a missing Issuer")
    if dep:
        c.expect(secret_volume(dep) == cert["spec"].get("secretName"), f"the Deployment mounts Secret {secret_volume(dep)}, the Certificate writes {cert['spec'].get('secretName')}")


def check_manual_tls(c, mwc, ns, dep, cert_dir):
    secrets = [s for s in c.of_kind("Secret") if s["metadata"]["name"] == PREFIX + "webhook-server-cert"]
    if not c.expect(len(secrets) == 1, "the webhook TLS Secret is not rendered"):
        return
    sec = secrets[0]
    data = sec.get("data") or {}
    c.expect({"tls.crt", "tls.key", "ca.crt"} <= set(data), "the TLS Secret lacks tls.crt, tls.key or ca.crt")
    c.expect(sec["metadata"]["name"] == secret_volume(dep), f"the Deployment mounts Secret {secret_volume(dep)}, not {sec['metadata']['name']}")
    bundles = {h.get("clientConfig", {}).get("caBundle") for h in mwc["webhooks"]}
    if not c.expect(len(bundles) == 1, "the webhook entries have different caBundles"):
        return
    bundle = bundles.pop()
    if not c.expect(bool(bundle), "the webhook has no caBundle"):
        return
    ca = base64.b64decode("".join(bundle.split()))
    c.expect(ca == base64.b64decode(data.get("ca.crt", "")), "caBundle differs from the Secret's ca.crt")
    if cert_dir:
        with open(f"{cert_dir}/ca.crt", "rb") as f:
            c.expect(ca == f.read(), "caBundle is not the CA made by generate-certs.sh")
    svc = mwc["webhooks"][0]["clientConfig"]["service"]["name"]
    with tempfile.TemporaryDirectory() as tmp:
        for k in ("ca.crt", "tls.crt"):
            with open(f"{tmp}/{k}", "wb") as f:
                f.write(base64.b64decode(data.get(k, "")))
        r = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-verify_hostname", f"{svc}.{ns}.svc",
                            "-CAfile", f"{tmp}/ca.crt", f"{tmp}/tls.crt"], capture_output=True, text=True)
        c.expect(r.returncode == 0, f"the serving certificate does not verify for {svc}.{ns}.svc against the caBundle: {r.stdout.strip()} {r.stderr.strip()}")


def check_olm(c, container, dep):
    c.one("ClusterServiceVersion")
    env = {e["name"]: e.get("value") for e in (container or {}).get("env") or []}
    c.expect(env.get("WEBHOOK_CERT_DIR") == "/tmp/k8s-webhook-server/serving-certs", "olm overlay must read OLM's certificate directory")
    c.expect(dep is None or secret_volume(dep) is None, "olm overlay must not mount a certificate Secret (OLM mounts its own)")


# Each mutation breaks one property; the checker must notice every one (a checker that cannot fail
# checks nothing).
MUTATIONS = {
    "failurePolicy Ignore": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][0].update(failurePolicy="Ignore"),
    "UPDATE matched": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][0]["rules"][0].update(operations=["CREATE", "UPDATE"]),
    "no reinvocation": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][0].pop("reinvocationPolicy"),
    "long timeout": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][0].update(timeoutSeconds=30),
    "no objectSelector": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][0].pop("objectSelector"),
    "caBundle missing": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][0]["clientConfig"].pop("caBundle"),
    "caBundle missing on the required entry": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][1]["clientConfig"].pop("caBundle"),
    "required entry fails open": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][1].update(failurePolicy="Ignore"),
    "required entry reaches every namespace": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][1]["namespaceSelector"]["matchExpressions"].pop(0),
    "labelled entry also in required namespaces": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][0]["namespaceSelector"]["matchExpressions"].pop(1),
    "workload warnings can block": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][2].update(failurePolicy="Fail"),
    "workload entry reaches kube-system": lambda d: d["kind"] == "MutatingWebhookConfiguration" and d["webhooks"][2]["namespaceSelector"]["matchExpressions"].pop(1),
    "image :latest": lambda d: d["kind"] == "Deployment" and d["spec"]["template"]["spec"]["containers"][0].update(image="localhost/model-validation-operator:latest"),
    "namespace not ignored": lambda d: d["kind"] == "Namespace" and d["metadata"]["labels"].pop("validation.ml.sigstore.dev/ignore"),
    "wildcard RBAC": lambda d: d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("manager-role") and d["rules"].append({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}),
    "pod writes": lambda d: d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("manager-role") and d["rules"].append({"apiGroups": [""], "resources": ["pods"], "verbs": ["update"]}),
    "root filesystem writable": lambda d: d["kind"] == "Deployment" and d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
    "key unreadable": lambda d: d["kind"] == "Deployment" and d["spec"]["template"]["spec"]["securityContext"].pop("fsGroup"),
    "object in default namespace": lambda d: d["kind"] == "Service" and d["metadata"].update(namespace="default"),
    "network policy opens every port": lambda d: d["kind"] == "NetworkPolicy" and d["spec"]["ingress"][0].pop("ports"),
    "network policy opens the health port": lambda d: d["kind"] == "NetworkPolicy" and d["spec"]["ingress"][0]["ports"].append({"port": "health", "protocol": "TCP"}),
    "metrics open to everyone": lambda d: d["kind"] == "NetworkPolicy" and d["spec"]["ingress"][1].pop("from"),
    "network policy selects nothing": lambda d: d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"].update(matchLabels={"app": "other"}),
    "egress blocked too": lambda d: d["kind"] == "NetworkPolicy" and d["spec"].update(policyTypes=["Ingress", "Egress"]),
    "policy editable by every namespace editor": lambda d: d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("-admin") and d["metadata"].setdefault("labels", {}).update({"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
    "pod patch dropped": lambda d: d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("manager-role") and [r["verbs"].remove("patch") for r in d["rules"] if r["resources"] == ["pods"]],
}


def self_test(path):
    """Renders nothing: takes the rendered testing overlay and checks that every mutation fails."""
    import copy

    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    base = check("testing", docs)
    if base:
        print("  FAIL self-test: the unmodified testing overlay does not pass: " + "; ".join(base))
        return 1
    missed = []
    for name, mutate in MUTATIONS.items():
        mutated = copy.deepcopy(docs)
        for d in mutated:
            mutate(d)
        if not check("testing", mutated):
            missed.append(name)
    for name in missed:
        print(f"  FAIL self-test: the checker accepts a broken overlay ({name})")
    print(f"  self-test: {len(MUTATIONS) - len(missed)}/{len(MUTATIONS)} broken variants rejected")
    return 1 if missed else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(argv[2])
    if len(argv) not in (3, 4) or argv[1] not in EXPECTED:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2]) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    failures = check(argv[1], docs, argv[3] if len(argv) == 4 else None)
    for msg in failures:
        print(f"  FAIL {argv[1]}: {msg}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
