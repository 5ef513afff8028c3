"""Querent settings. Every value comes from an environment variable (see README's table).

Two modes share this file: the embedded default (SQLite + a serverless Celery broker, used by
`make run`) and services mode (PostgreSQL via DATABASE_URL, Redis via REDIS_URL).
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("QUERENT_VAR_DIR", str(BASE_DIR / "var")))

# Production: `manage.py serve --production` (`make serve`) sets QUERENT_PRODUCTION=1 for itself and the
# processes it starts; set it on web and worker processes started by hand too. It refuses what is only
# for development (debug, development auth, a missing or short secret key, any Host) and makes the
# sandbox refuse to run code without bubblewrap.
PRODUCTION = env_bool("QUERENT_PRODUCTION", False)
DEBUG = env_bool("QUERENT_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("QUERENT_DEBUG=1 is for development only; unset it for a production start "
                               "(debug pages list every URL pattern and setting)")
SECRET_KEY = env_str("QUERENT_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("QUERENT_SECRET_KEY must be set " + (
            "for a production start; make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
            if PRODUCTION else "(or QUERENT_DEBUG=1 for development)"))
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"
elif PRODUCTION and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("QUERENT_SECRET_KEY is shorter than 32 characters, too short for production; make one "
                               "with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'")

ALLOWED_HOSTS = env_list("QUERENT_ALLOWED_HOSTS", ["*"] if DEBUG else ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and "*" in ALLOWED_HOSTS and not env_bool("QUERENT_ALLOW_ANY_HOST", False):
    raise ImproperlyConfigured("QUERENT_ALLOWED_HOSTS=* accepts any Host header; in production list this deployment's "
                               "host names (e.g. QUERENT_ALLOWED_HOSTS=querent.example.com), or set "
                               "QUERENT_ALLOW_ANY_HOST=1 if a proxy in front already checks the Host header")
CSRF_TRUSTED_ORIGINS = env_list("QUERENT_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "assistants",
    "executor",
    "threads",
    "responses",
    "sessions.apps.ChatSessionsConfig",
]

MIDDLEWARE = [
    "config.csp.ContentSecurityPolicyMiddleware",  # outermost: every response gets a policy (config/csp.py)
    "config.middleware.JsonErrorMiddleware",
    # Django's own middleware and WhiteNoise, minus a thread hop per hook under daphne: a patch of
    # Django's internals, with its versions, gain and tests, in config/patches/django_middleware.py.
    "config.patches.django_middleware.SecurityMiddleware",
    "config.patches.django_middleware.WhiteNoiseMiddleware",
    "config.patches.django_middleware.SessionMiddleware",
    "config.patches.django_middleware.CommonMiddleware",
    "config.patches.django_middleware.CsrfViewMiddleware",
    "config.patches.django_middleware.AuthenticationMiddleware",
    "config.patches.django_middleware.MessageMiddleware",
    "config.patches.django_middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- databases -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'querent.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let daphne and the worker share the file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("QUERENT_DB_POOL", True):
    # A per-process pool: async views and worker threads borrow a connection per query batch and
    # give it back, so an idle stream holds no connection and a burst does not open hundreds.
    # With a pool, Django's health checks become the pool's `check`, so connections the server
    # dropped (failover, restart, an idle-session killer) are replaced instead of failing a request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 1, "max_size": env_int("QUERENT_DB_POOL_SIZE", 20), "timeout": 30},
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMBEDDED = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite files, the embedded broker and CSV exports live here

# --- broker -----------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# Names every Redis key and pub/sub channel of this deployment, so several can share one Redis.
CHANNEL_PREFIX = env_str("QUERENT_CHANNEL_PREFIX", "querent")
if REDIS_URL:
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
else:
    # No server needed: kombu's SQLAlchemy transport over a SQLite file shared by web and worker
    # (config/broker.py registers the alias with a fast polling interval).
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"querent-sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}")
# No channel layer: the websocket consumers follow the event log like every stream, woken by the
# Redis pub/sub hub (threads.hub), and never send to one another.
CHANNEL_LAYERS = {}
CELERY_RESULT_BACKEND = env_str(
    "CELERY_RESULT_BACKEND", REDIS_URL or f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}"
)
# Celery's own Redis keys (queues, bindings, unacked messages, results) carry the prefix too, so
# deployments (and test runs) sharing a Redis database neither take each other's tasks nor mix keys.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{CHANNEL_PREFIX}:"}
if CELERY_RESULT_BACKEND.startswith(("redis://", "rediss://")):
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{CHANNEL_PREFIX}:"}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Reconnects after a broker outage with a task in flight instead of exiting (config/patches/celery_reconnect.py).
CELERY_WORKER_CONSUMER = "config.patches.celery_reconnect:ReconnectingConsumer"
# A run in flight keeps going through a broker outage; the database, not the broker, owns its state.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Queue names follow the prefix (`querent-agent`, `querent-default`), so deployments sharing a
# broker keep their tasks apart on any transport, not only through Redis key prefixes;
# QUERENT_AGENT_QUEUE / QUERENT_DEFAULT_QUEUE name them explicitly. Both are declared, so a worker
# started without -Q consumes both.
AGENT_QUEUE = env_str("QUERENT_AGENT_QUEUE", f"{CHANNEL_PREFIX}-agent")
CELERY_TASK_DEFAULT_QUEUE = env_str("QUERENT_DEFAULT_QUEUE", f"{CHANNEL_PREFIX}-default")
# Each queue on its own exchange and routing key, as Celery creates a missing queue: a Queue with
# no exchange would be bound to the default exchange with the default routing key, beside the
# default queue, and a task sent to one would reach both.
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in (AGENT_QUEUE, CELERY_TASK_DEFAULT_QUEUE))
CELERY_TASK_ROUTES = {
    "threads.tasks.*": {"queue": AGENT_QUEUE}, "responses.tasks.*": {"queue": AGENT_QUEUE}, "executor.tasks.*": {"queue": AGENT_QUEUE},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("QUERENT_CELERY_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600

# --- auth ----------------------------------------------------------------------------------
# Development auth trusts the `opengpts_user_id` cookie and `X-Tenant-ID` header; `make run` turns it on.
DEV_AUTH = env_bool("QUERENT_DEV_AUTH", False)
if PRODUCTION and DEV_AUTH:
    raise ImproperlyConfigured("QUERENT_DEV_AUTH=1 trusts a cookie and a header for identity; it is for development "
                               "only and refused in production")
# How long a process reuses a resolved API key (0: look it up on every request). Revoking a key
# takes effect at once in the process that revoked it, within this time in the others.
API_KEY_CACHE_SECONDS = env_float("QUERENT_API_KEY_CACHE_SECONDS", 5.0)
DEFAULT_TENANT = env_str("QUERENT_DEFAULT_TENANT", "default")
DEV_DEFAULT_USER = env_str("QUERENT_DEV_DEFAULT_USER", "dev")
JWT_SECRET = env_str("QUERENT_JWT_SECRET")
JWT_JWKS_URL = env_str("QUERENT_JWT_JWKS_URL")
JWT_AUDIENCE = env_str("QUERENT_JWT_AUDIENCE")
JWT_ISSUER = env_str("QUERENT_JWT_ISSUER")
# OIDC as OpenGPTs' `jwt_oidc` does it: an issuer with no secret and no JWKS URL is asked for its
# keys at {issuer}/.well-known/openid-configuration.
_jwt_asymmetric = bool(JWT_JWKS_URL) or (bool(JWT_ISSUER) and not JWT_SECRET)
JWT_ALGORITHMS = env_list("QUERENT_JWT_ALGORITHMS", ["RS256", "ES256"] if _jwt_asymmetric else ["HS256"])
JWT_JWKS_COOLDOWN = env_float("QUERENT_JWT_JWKS_COOLDOWN", 30.0)
JWT_TENANT_CLAIM = env_str("QUERENT_JWT_TENANT_CLAIM", "tenant")
# Claim naming the token holder's role: "admin" (or a list containing it) makes a tenant admin.
JWT_ROLE_CLAIM = env_str("QUERENT_JWT_ROLE_CLAIM", "role")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.auth.QuerentAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["config.auth.HasPrincipal"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "config.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.patches.spectacular_patterns.PatternsAutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Querent API",
    "DESCRIPTION": "AI data agents over your own database: PromptQL, OpenGPTs, Dataherald, BI and Julep dialects.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["config.schema.drop_slash_twins"],
    # Request and response components apart: what a request must satisfy (no blanks, no NULs) is
    # not a promise about what a response holds.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums", "config.schema.tag_by_dialect", "threads.openapi.add_async_routes",
        "sessions.openapi.describe_settings_and_filters",
    ],
    # Swagger UI from the sidecar package: the docs page works offline, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- cache: counters shared by every process (connection-test limits) -------------------------
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": CHANNEL_PREFIX}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}}

# --- requests ------------------------------------------------------------------------------
MAX_BODY_BYTES = env_int("QUERENT_MAX_BODY_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
# Largest websocket message (and frame), both directions (autobahn applies it to sends too); config/web.py.
MAX_WS_MESSAGE_BYTES = env_int("QUERENT_MAX_WS_MESSAGE_BYTES", MAX_BODY_BYTES)
APPEND_SLASH = False

# --- documents (assistants/documents.py, assistants/retrieval.py) -----------------------------------
# One uploaded file's size (the request as a whole is also capped by QUERENT_MAX_BODY_BYTES), the
# text it may expand to (a small DOCX can unzip to a lot), the documents one assistant, thread or
# end user may hold, the passage size, and how many passages a question retrieves.
MAX_DOCUMENT_BYTES = env_int("QUERENT_MAX_DOCUMENT_BYTES", MAX_BODY_BYTES)
MAX_DOCUMENT_TEXT_CHARS = env_int("QUERENT_MAX_DOCUMENT_TEXT_CHARS", 2_000_000)
MAX_DOCUMENTS_PER_SCOPE = env_int("QUERENT_MAX_DOCUMENTS_PER_SCOPE", 200)
DOCUMENT_CHUNK_CHARS = env_int("QUERENT_DOCUMENT_CHUNK_CHARS", 1000)
DOCUMENT_CHUNK_OVERLAP = env_int("QUERENT_DOCUMENT_CHUNK_OVERLAP", 150)
RETRIEVAL_PASSAGES = env_int("QUERENT_RETRIEVAL_PASSAGES", 4)

# --- uploaded data files (executor/uploads.py) ----------------------------------------------------
# A file upload's request body (every file in it together) may be this large; it is refused before
# it is read (config/middleware.py, config/web.py) and streamed to disk, never held in memory.
# Uploaded databases live in QUERENT_UPLOAD_DIR, by default `uploads` in the first of the data
# directories (QUERENT_SQLITE_DATA_SOURCE_DIRS, else VAR_DIR/data), which the trust boundary admits.
UPLOAD_MAX_BYTES = env_int("QUERENT_UPLOAD_MAX_BYTES", 512 * 1024 * 1024)
UPLOAD_DIR = env_str("QUERENT_UPLOAD_DIR", "")
# Memory DuckDB may use while it loads an upload (it writes to the new file as it goes), and its
# threads for the load: each thread holds its own CSV buffer and row groups, so the cap keeps the
# load's memory the same on a machine with more cores (bench/data_sources.py measures both).
UPLOAD_MEMORY_MB = env_int("QUERENT_UPLOAD_MEMORY_MB", 96)
UPLOAD_THREADS = env_int("QUERENT_UPLOAD_THREADS", 2)

# --- security headers (config/csp.py adds the Content-Security-Policy) -------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind HTTPS (QUERENT_HTTPS=1): HSTS, redirect plain HTTP, cookies only over TLS. A TLS-terminating
# proxy must set (overwrite) X-Forwarded-Proto; health checks may still come over plain HTTP.
HTTPS = env_bool("QUERENT_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^(health|ok)/?$"]
    SECURE_HSTS_SECONDS = env_int("QUERENT_HSTS_SECONDS", 31536000)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- static --------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from finders; this silences its warning
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(VAR_DIR / "files")}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- the agent -----------------------------------------------------------------------------
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
QUERENT_MODEL = env_str("QUERENT_MODEL", "gpt-4o-mini")
# The only models a request or an assistant may name (QUERENT_MODEL is always one); see assistants/limits.py.
QUERENT_ALLOWED_MODELS = env_list("QUERENT_ALLOWED_MODELS", [QUERENT_MODEL])
LLM_TIMEOUT = env_float("QUERENT_LLM_TIMEOUT", 60.0)
LLM_MAX_RETRIES = env_int("QUERENT_LLM_MAX_RETRIES", 3)
# USD per million tokens (prompt, completion); unknown models cost 0 and say so in usage.
LLM_PRICES = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}
AGENT_MAX_STEPS = env_int("QUERENT_MAX_STEPS", 10)
CONFIRMATION_TIMEOUT = env_float("QUERENT_CONFIRMATION_TIMEOUT", 300.0)
RUN_STALE_AFTER = env_float("QUERENT_RUN_STALE_AFTER", 120.0)
RUN_MAX_ATTEMPTS = env_int("QUERENT_RUN_MAX_ATTEMPTS", 2)
# How long POST /threads/{id}/cancel waits for the runs it stopped to end, to reply with where they ended.
RUN_CANCEL_REPLY_WAIT = env_float("QUERENT_RUN_CANCEL_REPLY_WAIT", 10.0)
# How long a worker waits for a run dispatched before its write committed (a new thread's first).
RUN_VISIBLE_WITHIN = env_float("QUERENT_RUN_VISIBLE_WITHIN", 5.0)
HEARTBEAT_INTERVAL = env_float("QUERENT_HEARTBEAT_INTERVAL", 10.0)
EVENT_POLL_INTERVAL = env_float("QUERENT_EVENT_POLL_INTERVAL", 0.1 if not REDIS_URL else 1.0)
SSE_KEEPALIVE = env_float("QUERENT_SSE_KEEPALIVE", 15.0)
METRICS_TOKEN = env_str("QUERENT_METRICS_TOKEN")  # when set, /metrics wants `Authorization: Bearer <token>`
DEMO_DATABASE_URL = env_str("QUERENT_DEMO_DATABASE_URL", f"sqlite:///{VAR_DIR / 'demo-chinook.sqlite3'}")

# --- logging -------------------------------------------------------------------------------
LOG_LEVEL = env_str("QUERENT_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "plain": {"()": "config.logging.PlainFormatter"},  # scrubbed too
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if env_bool("QUERENT_LOG_JSON", not DEBUG) else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # One INFO line per HTTP request the openai SDK makes; a run's own lines say more.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# --- llm -----------------------------------------------------------------------------------
# Retry pacing for the LLM client (exponential backoff with jitter; Retry-After honoured up to a cap)
# and a bound on one streamed reply, since the read timeout only applies between chunks.
LLM_BACKOFF_BASE = env_float("QUERENT_LLM_BACKOFF_BASE", 0.5)
LLM_BACKOFF_MAX = env_float("QUERENT_LLM_BACKOFF_MAX", 8.0)
LLM_RETRY_AFTER_MAX = env_float("QUERENT_LLM_RETRY_AFTER_MAX", 30.0)
LLM_STREAM_MAX_SECONDS = env_float("QUERENT_LLM_STREAM_MAX_SECONDS", 600.0)

# --- data sources (executor) ---------------------------------------------------------------
DATA_SOURCE_CONNECT_TIMEOUT_S = env_int("QUERENT_DATA_SOURCE_CONNECT_TIMEOUT", 5)
# Schema introspection is cached on the DataSource row for this long (seconds).
SCHEMA_CACHE_TTL_S = env_int("QUERENT_SCHEMA_CACHE_TTL", 3600)
SCHEMA_MAX_TABLES = env_int("QUERENT_SCHEMA_MAX_TABLES", 1000)
SCHEMA_SAMPLE_TABLES = env_int("QUERENT_SCHEMA_SAMPLE_TABLES", 50)
# The context store (executor/context): how much of a prompt the schema may take, how many golden
# SQLs go in as examples, and an optional OpenAI-compatible embeddings endpoint for similarity
# (empty model: lexical similarity only, which needs nothing).
CONTEXT_SCHEMA_CHARS = env_int("QUERENT_CONTEXT_SCHEMA_CHARS", 6000)
CONTEXT_EXAMPLES = env_int("QUERENT_CONTEXT_EXAMPLES", 3)
CONTEXT_LOW_CARDINALITY = env_int("QUERENT_CONTEXT_LOW_CARDINALITY", 20)
EMBEDDINGS_MODEL = env_str("QUERENT_EMBEDDINGS_MODEL", "")
EMBEDDINGS_BASE_URL = env_str("QUERENT_EMBEDDINGS_BASE_URL") or OPENAI_BASE_URL
EMBEDDINGS_API_KEY = env_str("QUERENT_EMBEDDINGS_API_KEY") or OPENAI_API_KEY
# Where a data source may connect, judged by the addresses its host resolves to (executor/boundary.py):
# host names, addresses or CIDR networks, and `*` for any address that is not loopback, link-local,
# cloud metadata, unspecified, multicast or reserved. Those are reachable only when listed here
# (development allows this machine's loopback too). Querent's own database and Redis never are.
DATA_SOURCE_ALLOWED_HOSTS = env_list("QUERENT_DATA_SOURCE_ALLOWED_HOSTS", ["*", "127.0.0.0/8", "::1"] if DEBUG else ["*"])
# SQLite data sources must be files under these directories (default: var/data); the demo file always may.
SQLITE_DATA_SOURCE_DIRS = env_list("QUERENT_SQLITE_DATA_SOURCE_DIRS", [])
# Connection tests (creating or re-pointing a data source) per principal per minute: not a port scanner.
CONNECTION_TESTS_PER_MINUTE = env_int("QUERENT_CONNECTION_TESTS_PER_MINUTE", 10)

# --- Dataherald responses ------------------------------------------------------------------
# How long POST /api/v1/responses and /questions wait for the worker before answering 504.
RESPONSES_TIMEOUT = env_float("QUERENT_RESPONSES_TIMEOUT", 300.0)
# Corrections asked of the model after a generated query fails in the database.
RESPONSES_SQL_RETRIES = env_int("QUERENT_RESPONSES_SQL_RETRIES", 2)
# CSV exports go to VAR_DIR/exports unless a bucket is set (any S3-compatible endpoint).
# Local exports older than this many days are deleted by the workers (hourly) and by
# `manage.py prune_exports`; 0 keeps them forever. Buckets use their own lifecycle rules.
CSV_RETENTION_DAYS = env_float("QUERENT_CSV_RETENTION_DAYS", 30.0)
CSV_S3_BUCKET = env_str("QUERENT_CSV_S3_BUCKET")
CSV_S3_ENDPOINT_URL = env_str("QUERENT_CSV_S3_ENDPOINT_URL")
CSV_S3_REGION = env_str("QUERENT_CSV_S3_REGION", "us-east-1")
CSV_S3_PREFIX = env_str("QUERENT_CSV_S3_PREFIX", "querent/csv/")
CSV_S3_ACCESS_KEY_ID = env_str("QUERENT_CSV_S3_ACCESS_KEY_ID") or env_str("AWS_ACCESS_KEY_ID")
CSV_S3_SECRET_ACCESS_KEY = env_str("QUERENT_CSV_S3_SECRET_ACCESS_KEY") or env_str("AWS_SECRET_ACCESS_KEY")

# --- sandbox: the warm pool that runs model-written Python (executor/sandbox) ----------------
SANDBOX_POOL_SIZE = env_int("QUERENT_SANDBOX_POOL_SIZE", 4)  # snippets that can run at once per worker
SANDBOX_TIMEOUT = env_float("QUERENT_SANDBOX_TIMEOUT", 30.0)  # seconds of running, not of waiting on run_sql
SANDBOX_TOTAL_TIMEOUT = env_float("QUERENT_SANDBOX_TOTAL_TIMEOUT", 1800.0)  # including approvals
SANDBOX_MEMORY_MB = env_int("QUERENT_SANDBOX_MEMORY_MB", 2048)  # address space per snippet process
SANDBOX_CPU_SECONDS = env_int("QUERENT_SANDBOX_CPU_SECONDS", 30)
SANDBOX_OUTPUT_CHARS = env_int("QUERENT_SANDBOX_OUTPUT_CHARS", 100_000)
SANDBOX_MAX_SQL_CALLS = env_int("QUERENT_SANDBOX_MAX_SQL_CALLS", 50)
SANDBOX_ARTIFACT_MB = env_float("QUERENT_SANDBOX_ARTIFACT_MB", 5.0)
SANDBOX_DISABLE_BWRAP = env_bool("QUERENT_SANDBOX_DISABLE_BWRAP", False)  # weaker fallback; logs a warning
SANDBOX_BWRAP = env_str("QUERENT_SANDBOX_BWRAP", "bwrap")  # bubblewrap: a name looked up on PATH, or a path
# Production runs no code without bubblewrap (a tool error instead), unless the operator accepts the
# weaker fallback by name.
SANDBOX_ALLOW_UNSAFE_NO_BWRAP = env_bool("QUERENT_SANDBOX_ALLOW_UNSAFE_NO_BWRAP", False)
SANDBOX_REQUIRE_BWRAP = PRODUCTION and not SANDBOX_ALLOW_UNSAFE_NO_BWRAP
SANDBOX_TMP_MB = env_int("QUERENT_SANDBOX_TMP_MB", 64)
SANDBOX_MAX_PROCESSES = env_int("QUERENT_SANDBOX_MAX_PROCESSES", 32)
SANDBOX_FIRST_UID = env_int("QUERENT_SANDBOX_FIRST_UID", 60500)
