# Querent: `make run` to try it, `make test` to prove it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

# The test suite runs twice: in services mode (real PostgreSQL and Redis on this machine) and in the
# embedded default of `make run` (SQLite, kombu's serverless broker, no Redis).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/querent
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0
PYTEST_ARGS       ?=

.PHONY: run serve test test-services test-embedded setup venv clean-var

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Install the pinned dependencies listed in pyproject.toml (the project itself is not a package).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
		print("\n".join(p["dependencies"] + p["optional-dependencies"]["test"]))' > $(VENV)/requirements.txt
	$(BIN)/pip install -q -r $(VENV)/requirements.txt
	rm -f $(VENV)/.deps-*; touch $@

venv: $(STAMP)

var:
	mkdir -p var

var/secret_key: | var
	$(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	chmod 600 $@

setup: venv var/secret_key
	@QUERENT_SECRET_KEY=$$(cat var/secret_key) QUERENT_DEBUG=1 $(BIN)/python manage.py migrate --noinput -v0
	@QUERENT_SECRET_KEY=$$(cat var/secret_key) QUERENT_DEBUG=1 $(BIN)/python manage.py bootstrap

# Development: embedded mode unless DATABASE_URL / REDIS_URL are set in the environment.
run: setup
	@QUERENT_SECRET_KEY=$$(cat var/secret_key) QUERENT_DEBUG=1 QUERENT_DEV_AUTH=$${QUERENT_DEV_AUTH:-1} \
		$(BIN)/python manage.py serve

# Production: QUERENT_SECRET_KEY (and DATABASE_URL, REDIS_URL, QUERENT_ALLOWED_HOSTS, ...) come from the
# environment; refuses to start without them or without bubblewrap (README: Production start).
serve: venv
	@QUERENT_PRODUCTION=1 $(BIN)/python manage.py migrate --noinput
	@$(BIN)/python manage.py serve --production

# Both passes run even when the first fails; `make test` fails when either does. Tests marked
# requires_postgres / requires_redis are skipped, with the reason, in the embedded pass.
test: venv
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

test-services: venv
	$(call run_pass,services (PostgreSQL $(TEST_DATABASE_URL) + Redis $(TEST_REDIS_URL)),\
		$(TEST_ENV) DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest $(PYTEST_ARGS))

# Embedded: no DATABASE_URL or REDIS_URL; the serverless broker, results and cache live in a
# temporary QUERENT_VAR_DIR (never the var/ of `make run`), removed afterwards.
test-embedded: venv
	$(call run_pass,embedded (SQLite + serverless broker; no PostgreSQL or Redis),\
		var_dir=$$(mktemp -d "$${TMPDIR:-/tmp}/querent-test-var.XXXXXX"); rc=0; \
		env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL -u CELERY_RESULT_BACKEND -u QUERENT_TEST_PG_URL \
			$(TEST_ENV) QUERENT_VAR_DIR=$$var_dir $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
		rm -rf "$$var_dir"; (exit $$rc))

clean-var:
	rm -rf var
