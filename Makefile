# Querent: `make run` to try it, `make test` to prove it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

# Services mode for the test suite: real PostgreSQL and Redis on this machine.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/querent
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0
PYTEST_ARGS       ?=

.PHONY: run serve test setup venv clean-var

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

# The test servers are on loopback (allowed explicitly, as an operator would) and SQLite test
# sources are written to the temporary folder.
test: venv
	QUERENT_SECRET_KEY=test-secret-key \
	QUERENT_DATA_SOURCE_ALLOWED_HOSTS='*,127.0.0.1' QUERENT_SQLITE_DATA_SOURCE_DIRS=$${TMPDIR:-/tmp} \
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean-var:
	rm -rf var
