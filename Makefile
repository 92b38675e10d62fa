# model-validation-operator: developer entry points. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help test setup lint unit
help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# The tests use the real Python model_signing as an interoperability peer: `make test` installs it
# (and cargo-nextest, fincore) first; a missing peer fails the tests (they never skip).
export MV_PYTHON_VENV ?= $(HOME)/.cache/model-validation-operator/venv

test: setup lint unit ## Everything CI runs before the end-to-end suite (installs what it needs first)
setup: ## Install what `make test` needs (idempotent): cargo-nextest, fincore, the Python peer
	bash .ci/install.sh --test
lint: ## Formatting, clippy (warnings are errors) and the structure rules (.ci/structure.sh)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	bash .ci/structure.sh
unit: ## Unit, integration, conformance and interoperability tests
	$(CARGO) nextest run --workspace --all-targets --locked --no-fail-fast
	@echo "Tests not run by this target (#[ignore]) and why:"
	@grep -rn --include='*.rs' '#\[ignore' verifier operator shared benches || echo "  none"

.PHONY: run
run: ## Run the operator locally: webhook on https://localhost:9443 with a self-signed certificate
	$(CARGO) run -p model-validation-operator -- --dev

.PHONY: demo
demo: ## Verify the bundled signed model (succeeds), then its tampered copy (fails)
	$(CARGO) build -q --release --locked -p model-verifier
	B=$$(realpath -m $${CARGO_TARGET_DIR:-target})/release/model-verifier; \
	  cd testdata && $$B verify key model --signature signatures/key.sig --public_key keys/signing-key.pub && \
	  ! $$B verify key model-tampered --signature signatures/key.sig --public_key keys/signing-key.pub

# ---- fuzzing (fuzz/: cargo-fuzz on the stable toolchain, see fuzz/README.md) -----------------
FUZZ_TARGETS := bundle statement dsse_key_method pem_der_path trust_root admission model_validation
FUZZ_RUN = RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -s none --fuzz-dir fuzz
.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build: ## Build every cargo-fuzz target (installs cargo-fuzz first; fuzz/Cargo.lock must be current)
	bash .ci/install.sh --fuzz
	$(CARGO) metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build -s none --fuzz-dir fuzz
fuzz: FUZZ_SECONDS ?= 600
fuzz: fuzz-build ## Run every fuzz target FUZZ_SECONDS (600) each; the corpus grows in fuzz/corpus/<target>
	for t in $(FUZZ_TARGETS); do mkdir -p fuzz/corpus/$$t && \
	  $(FUZZ_RUN) $$t fuzz/corpus/$$t fuzz/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done
fuzz-smoke: FUZZ_SECONDS ?= 20
fuzz-smoke: fuzz-build ## CI's short pass: every fuzz target FUZZ_SECONDS (20) each from its seeds, nothing kept
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for t in $(FUZZ_TARGETS); do mkdir -p "$$tmp/$$t"; \
	  if $(FUZZ_RUN) $$t "$$tmp/$$t" fuzz/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) >"$$tmp/$$t.log" 2>&1; \
	  then echo "fuzz-smoke: $$t: $$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second.*' "$$tmp/$$t.log" | tail -1)"; \
	  else tail -n 60 "$$tmp/$$t.log"; echo "fuzz-smoke: $$t FAILED (input saved under fuzz/artifacts/$$t/)"; exit 1; fi; done

.PHONY: bench bench-compare bench-webhook bench-watch bench-scale bench-digest
bench: ## Criterion benchmarks of the hashing engine
	$(CARGO) bench -p model-verifier-benches
bench-compare: ## model-verifier vs Python model_signing vs openssl/cat, one run (needs ~7 GB in /var/tmp)
	bash .ci/install.sh
	$(CARGO) build --release --locked -p model-verifier
	python3 benches/compare.py --verifier target/release/model-verifier
bench-watch: ## watch: re-check cost (10,000 files; 2 GiB in 4 files), idle RSS/CPU, change-to-NotReady, on the image's static binary (~2.2 GB in /var/tmp)
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked --target x86_64-unknown-linux-gnu \
	  -p model-verifier -p model-verifier-benches --bin model-verifier --bin watch-bench
	T=$${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release; $$T/watch-bench --verifier $$T/model-verifier
bench-webhook: ## Webhook p50/p99, errors and operator RSS at 100, 500, 2000 req/s over TLS on loopback
	CARGO="$(CARGO)" benches/webhook.sh
bench-digest: ## Pod start-up with a 2 GiB model image by digest: first pod (verifier hashes it) vs later pods (verified by digest) vs no verification (~10 GB free disk)
	MV_E2E_BENCH_DIGEST=1 tests/e2e/run.sh bench-digest-2gib
bench-scale: ## Operator on a real API server: 10,000 labelled pods, 100 namespaces/ModelValidations, churn 50 pods/s (RSS, webhook p99, reconcile latency, status freshness)
	CARGO="$(CARGO)" benches/scale.sh

# ---- images, manifests, end-to-end (images/, config/, tests/manifests/, tests/e2e/) ----------
.PHONY: images manifests-check e2e cluster-up cluster-down
images: ## Build the operator and verifier images (static binaries, FROM scratch) with podman/buildah
	images/build.sh
manifests-check: ## Render every config/ overlay with kustomize and check the output
	tests/manifests/check.sh
e2e: ## End-to-end suite on a real cluster ($$KUBECONFIG, else a local one booted for the run)
	tests/e2e/run.sh
cluster-up: ## Start the local single-node Kubernetes v1.37 cluster (builds and caches the binaries once)
	tests/e2e/cluster/build-k8s.sh
	tests/e2e/cluster/cluster.sh up
cluster-down: ## Stop the local cluster started by cluster-up or e2e
	tests/e2e/cluster/cluster.sh down
