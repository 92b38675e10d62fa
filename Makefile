# model-validation-operator: developer entry points. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help test lint unit
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

test: lint unit ## Everything CI runs before the end-to-end suite
lint: ## Formatting and clippy, warnings are errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
unit: ## Unit, integration, conformance and interoperability tests
	$(CARGO) nextest run --workspace --all-targets --locked --no-fail-fast
