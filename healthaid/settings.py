"""The one settings module, driven by environment variables.

Zero-setup default (``make run``): SQLite file and Celery tasks run eagerly in-process.
Production and CI: ``DATABASE_URL=postgres://…`` and ``REDIS_URL=redis://…``.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The development key is refused in production by `check --deploy` (it starts with
# "django-insecure"); deployments set SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY", "django-insecure-healthaid-development-only-key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "import_export",
    "core",
    "registry",
    "claims",
    "settlement",
    "dashboards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "registry.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "healthaid.urls"
WSGI_APPLICATION = "healthaid.wsgi.application"

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
                "registry.context_processors.role",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Persistent connections (production sets 60 s, see docker-compose.yml): a Celery task
        # then reuses its process's connection instead of opening a PostgreSQL backend, whose
        # caches start cold, per task. Health checks replace a connection the server dropped.
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The UI is Chinese whatever the browser asks for (no LocaleMiddleware).
LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves collected files (collectstatic into STATIC_ROOT); elsewhere WhiteNoise
# serves straight from static/ so `make run` needs no collectstatic.
PRODUCTION = env_bool("PRODUCTION", False)
if PRODUCTION and SECRET_KEY.startswith("django-insecure"):
    # A production server must never sign sessions with the key published in this repository.
    raise ImproperlyConfigured("PRODUCTION=1 需要设置环境变量 SECRET_KEY（不能使用开发用密钥）")
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles")) if PRODUCTION else None
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Uploaded rosters can be large (100k rows ≈ 10 MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions and cookies: county offices share computers, so sessions end with the browser
# and after 8 hours at most.
SESSION_COOKIE_AGE = 8 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Celery: with REDIS_URL a real broker; without it, tasks run eagerly in-process so that
# `make run` needs nothing installed.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CELERY_BROKER_URL = "memory://localhost/"  # a host, so kombu does not warn about a missing one
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
# The cache carries task progress between the worker and the page that polls it.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the task to be redelivered
# Redis redelivers a dead worker's unacknowledged tasks once they are this old (seconds): it
# must exceed the longest task. Tests that kill a worker lower it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": int(os.environ.get("CELERY_RESTORE_INTERVAL", "10")),
}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis restarting (tests/faults): a worker keeps trying to reconnect, at start-up too (a worker
# started before Redis waits for it instead of exiting)...
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# ...and tasks already running when the connection drops are left to finish, not cancelled: a
# cancelled import would be lost with a Redis that kept nothing. Their acknowledgement may be
# lost with the connection, so a Redis that kept the message redelivers it after the
# visibility timeout; every task is idempotent (see the tasks modules), the duplicate is a no-op.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Dashboard aggregates are rebuilt every 10 minutes (dashboards/services.aggregates_refresh);
# the outbox is swept every minute (core/outbox.py: work a broker outage left pending).
CELERY_BEAT_SCHEDULE = {
    "dashboards-refresh": {"task": "dashboards.tasks.refresh_aggregates", "schedule": 600.0},
    "outbox-sweep": {"task": "core.tasks.outbox_dispatch_task", "schedule": 60.0},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["registry.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "healthaid API",
    "DESCRIPTION": "县域健康扶贫/医疗保障平台接口：建档立卡、就诊、一站式结算。所有接口按角色限定数据范围。",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI and ReDoc served from our own static files (offline county offices).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Three different choice sets are all called "kind": name each enum after what it is.
    "ENUM_NAME_OVERRIDES": {
        "EncounterKindEnum": "claims.models.EncounterKind",
        "FollowUpKindEnum": "claims.models.FollowUpKind",
        "SettlementRunKindEnum": "settlement.models.SettlementRun.Kind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Batch settlement: at most this many members per Celery task (settle / re-settle a year;
# simulate a policy). A run splits its members into equal chunks, as many as a multiple of
# SETTLEMENT_WORKER_PROCESSES (the worker's --concurrency), so the processes finish together.
SETTLEMENT_CHUNK_MEMBERS = int(os.environ.get("SETTLEMENT_CHUNK_MEMBERS", "2000"))
SETTLEMENT_SIMULATE_CHUNK_MEMBERS = int(os.environ.get("SETTLEMENT_SIMULATE_CHUNK_MEMBERS", "5000"))
SETTLEMENT_WORKER_PROCESSES = int(os.environ.get("SETTLEMENT_WORKER_PROCESSES", "2"))
# A batch chunk that no live worker holds (its worker was killed) is queued again by the sweeper
# (settlement.tasks.recover_runs, beat every SETTLEMENT_SWEEP_SECONDS; manage.py recover_runs)
# once its lease of SETTLEMENT_CHUNK_LEASE_SECONDS has run out: within lease + sweep (3 minutes
# by default), instead of Redis's visibility timeout (an hour).
SETTLEMENT_CHUNK_LEASE_SECONDS = int(os.environ.get("SETTLEMENT_CHUNK_LEASE_SECONDS", "120"))
SETTLEMENT_SWEEP_SECONDS = int(os.environ.get("SETTLEMENT_SWEEP_SECONDS", "60"))
CELERY_BEAT_SCHEDULE["settlement-recover-runs"] = {
    "task": "settlement.tasks.recover_runs",
    "schedule": float(SETTLEMENT_SWEEP_SECONDS),
}
