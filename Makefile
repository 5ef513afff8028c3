# Querent: `make run` to try it, `make test` to prove it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# One stamp per dependency list and pyproject.toml version: `make run` installs what running needs,
# `make test` adds the test tools (pytest, Playwright, schemathesis, Hypothesis, ...) on top.
DEPS_HASH  := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
RUN_STAMP  := $(VENV)/.deps-run-$(DEPS_HASH)
TEST_STAMP := $(VENV)/.deps-test-$(DEPS_HASH)

# The test suite runs twice: in services mode (real PostgreSQL and Redis on this machine) and in the
# embedded default of `make run` (SQLite, kombu's serverless broker, no Redis).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/querent
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0
PYTEST_ARGS       ?=

.PHONY: run serve test test-services test-embedded setup venv venv-test clean-var create-api-key reset-admin-password

$(BIN)/python:
	@echo "== make: creating the virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Install the pinned dependencies listed in pyproject.toml (the project itself is not a package):
# `dependencies` for running, `optional-dependencies.test` for the suite. pip prints a line per
# package and a progress bar per download, so a first start shows where its minute goes.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "== make: installing the runtime dependencies from pyproject.toml (first start only)"
	$(BIN)/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
		print("\n".join(p["dependencies"]))' > $(VENV)/requirements.txt
	$(BIN)/pip install --progress-bar on -r $(VENV)/requirements.txt
	rm -f $(VENV)/.deps-run-*; touch $@

$(TEST_STAMP): $(RUN_STAMP)
	@echo "== make: installing the test tools from pyproject.toml (optional-dependencies.test)"
	$(BIN)/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
		print("\n".join(p["optional-dependencies"]["test"]))' > $(VENV)/requirements-test.txt
	$(BIN)/pip install --progress-bar on -r $(VENV)/requirements-test.txt
	rm -f $(VENV)/.deps-test-*; touch $@

venv: $(RUN_STAMP)
venv-test: $(TEST_STAMP)

# `make run`'s files (database, broker, generated secret key and admin password): QUERENT_VAR_DIR, as
# the settings read it, or ./var.
VAR := $(or $(QUERENT_VAR_DIR),var)

$(VAR):
	mkdir -p $(VAR)

$(VAR)/secret_key: | $(VAR)
	$(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	chmod 600 $@

# What `make run` runs its commands with: the generated secret key, debug mode.
DEV_ENV = QUERENT_SECRET_KEY=$$(cat $(VAR)/secret_key) QUERENT_DEBUG=1

setup: venv $(VAR)/secret_key
	@echo "== make: migrating the database"
	@$(DEV_ENV) $(BIN)/python manage.py migrate --noinput -v0
	@echo "== make: creating the admin user and loading the demo data"
	@$(DEV_ENV) $(BIN)/python manage.py bootstrap

# Development: embedded mode unless DATABASE_URL / REDIS_URL are set in the environment.
run: setup
	@echo "== make: starting the web server and the worker"
	@$(DEV_ENV) QUERENT_DEV_AUTH=$${QUERENT_DEV_AUTH:-1} $(BIN)/python manage.py serve

# Management commands against `make run`'s database and secret key (README: Authentication):
#   make create-api-key ARGS="alice --tenant default --role admin"
#   make reset-admin-password            (a new random password for admin, or ARGS=USERNAME)
create-api-key: setup
	@$(DEV_ENV) $(BIN)/python manage.py create_api_key $(ARGS)

reset-admin-password: setup
	@$(DEV_ENV) $(BIN)/python manage.py reset_admin_password $(ARGS)

# Production: QUERENT_SECRET_KEY (and DATABASE_URL, REDIS_URL, QUERENT_ALLOWED_HOSTS, ...) come from the
# environment; refuses to start without them or without bubblewrap (README: Production start).
serve: venv
	@QUERENT_PRODUCTION=1 $(BIN)/python manage.py migrate --noinput
	@$(BIN)/python manage.py serve --production

# Both passes run even when the first fails; `make test` fails when either does. Tests marked
# requires_postgres / requires_redis are skipped, with the reason, in the embedded pass.
test: venv-test
	@status=0; \
	$(MAKE) --no-print-directory test-services || status=1; \
	$(MAKE) --no-print-directory test-embedded || status=1; \
	if [ $$status = 0 ]; then echo "== make test: both passes passed"; else echo "== make test: FAILED (see the pass above marked FAILED)"; fi; \
	exit $$status

# The test servers are on loopback (allowed explicitly, as an operator would) and SQLite test
# sources are written to the temporary folder.
TEST_ENV := QUERENT_SECRET_KEY=test-secret-key \
	QUERENT_DATA_SOURCE_ALLOWED_HOSTS='*,127.0.0.1' QUERENT_SQLITE_DATA_SOURCE_DIRS=$${TMPDIR:-/tmp}

# run_pass NAME, environment and command: one line before, one line with the result and time after.
define run_pass
	@echo "== make test: $(1) pass: starting"; \
	start=$$(date +%s); status=0; \
	$(2) || status=$$?; \
	took=$$(( $$(date +%s) - start )); \
	if [ $$status = 0 ]; then echo "== make test: $(1) pass: passed in $${took}s"; \
	else echo "== make test: $(1) pass: FAILED (pytest exit code $$status) in $${took}s"; fi; \
	exit $$status
endef

test-services: venv-test
	$(call run_pass,services (PostgreSQL $(TEST_DATABASE_URL) + Redis $(TEST_REDIS_URL)),\
		$(TEST_ENV) DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest $(PYTEST_ARGS))

# Embedded: no DATABASE_URL or REDIS_URL; the serverless broker, results and cache live in a
# temporary QUERENT_VAR_DIR (never the var/ of `make run`), removed afterwards. Tests marked
# backend_independent prove the same thing in either pass and run in the services pass only.
test-embedded: venv-test
	$(call run_pass,embedded (SQLite + serverless broker; no PostgreSQL or Redis),\
		var_dir=$$(mktemp -d "$${TMPDIR:-/tmp}/querent-test-var.XXXXXX"); rc=0; \
		env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL -u CELERY_RESULT_BACKEND -u QUERENT_TEST_PG_URL \
			$(TEST_ENV) QUERENT_VAR_DIR=$$var_dir $(BIN)/python -m pytest -m "not backend_independent" $(PYTEST_ARGS) || rc=$$?; \
		rm -rf "$$var_dir"; (exit $$rc))

clean-var:
	rm -rf $(VAR)
