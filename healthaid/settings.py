"""The one settings module, driven by environment variables.

Zero-setup default (``make run``): SQLite file and Celery tasks run eagerly in-process.
Production and CI: ``DATABASE_URL=postgres://…`` and ``REDIS_URL=redis://…``.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
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
    "rest_framework.authtoken",
    "axes",
    "csp",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "import_export",
    "core",
    "registry",
    "claims",
    "settlement",
    "aid",
    "payments",
    "dashboards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "healthaid.middleware.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "registry.middleware.LoginRequiredMiddleware",
    "csp.middleware.CSPMiddleware",
    "healthaid.middleware.SecurityHeadersMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

# Passwords (docs/security.md): django-axes counts failed logins per account *and* address
# (pages, admin and the API alike) and locks that pair after AXES_FAILURE_LIMIT failures for
# AXES_COOLOFF_MINUTES; every attempt is kept (AccessAttempt / AccessFailureLog, visible to
# county staff in 系统管理, where deleting the attempt unlocks the account).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client address is the socket's: a header such as X-Forwarded-For is the client's to
# forge (a guesser would rotate it). Behind a reverse proxy that sets it, name the header here.
AXES_IPWARE_META_PRECEDENCE_ORDER = tuple(env_list("AXES_CLIENT_IP_HEADERS", "REMOTE_ADDR"))
AXES_IPWARE_PROXY_COUNT = int(os.environ["AXES_PROXY_COUNT"]) if os.environ.get("AXES_PROXY_COUNT") else None

# Content-Security-Policy (django-csp 4): scripts, styles, images, fonts and requests only from
# our own origin; no inline script or style anywhere (templates load static/js files).
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
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# healthaid.middleware.SecurityHeadersMiddleware adds these to every response.
SECURE_REFERRER_POLICY = "same-origin"
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=(), "
    "accelerometer=(), gyroscope=(), magnetometer=(), fullscreen=(self)"
)

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
# A broker that is down must not hold a web request: the after-commit kick of the outbox
# (core/outbox.py) gives up within about a second (connect) and the sweeper does the work
# later. socket_timeout bounds a command on a connection the broker dropped silently; it
# exceeds kombu's 1 s BRPOP wait, so an idle worker's poll is not cut short.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": int(os.environ.get("CELERY_RESTORE_INTERVAL", "10")),
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 1
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
# the outbox is swept every minute (core/outbox.py: work a broker outage left pending), and
# contracts are expired daily.
CELERY_BEAT_SCHEDULE = {
    "dashboards-refresh": {"task": "dashboards.tasks.refresh_aggregates", "schedule": 600.0},
    "outbox-sweep": {"task": "core.tasks.outbox_dispatch_task", "schedule": 60.0},
    # Contracts past their end date become 已到期 (claims.services.contracts_expire), daily
    # just after midnight (CELERY_TIMEZONE); signing expires its household's lapsed contract too.
    "claims-expire-contracts": {
        "task": "claims.tasks.expire_contracts",
        "schedule": crontab(hour=0, minute=5),
    },
}

# Empty choices of list filters read 「全部」 (django-filter's default is "---------").
FILTERS_EMPTY_CHOICE_LABEL = "全部"

# The API: session (pages' own scripts) and token auth (Authorization: Token …; tokens made by
# county staff in 系统管理). Basic auth sends the password with every request and lets a guesser
# try passwords without the login page: development and tests only, never in production.
API_BASIC_AUTH = env_bool("API_BASIC_AUTH", not PRODUCTION) and not PRODUCTION
# Requests per user (or per address when not logged in); healthaid.throttling reads these at
# each request, so a test can change them.
API_THROTTLE_RATES = {
    "anon": os.environ.get("API_THROTTLE_ANON", "60/minute"),
    "user": os.environ.get("API_THROTTLE_USER", "1200/minute"),
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # 定点医疗机构 tokens (hw_…, revocable; claims.InstitutionToken) first: the first class
        # gives the WWW-Authenticate header, so a refused token is a 401 (not a 403).
        "claims.authentication.InstitutionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        *(["rest_framework.authentication.BasicAuthentication"] if API_BASIC_AUTH else []),
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "healthaid.throttling.AnonThrottle",
        "healthaid.throttling.UserThrottle",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["registry.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # A service's DomainError → 400 (409 for a conflict), one body shape (core/api.py).
    "EXCEPTION_HANDLER": "core.api.exception_handler",
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
        "AidKindEnum": "aid.models.AidKind",
        "AidStatusEnum": "aid.models.AidStatus",
        "AidStepActionEnum": "aid.models.StepAction",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # ID numbers typed into searches travel in URLs (?q=…): every log line has them masked.
    "filters": {"mask_id_numbers": {"()": "healthaid.logfilters.MaskIdNumbers"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask_id_numbers"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# A user refused this many times within the window for a duplicate ID number or encounter
# reference (core.ratelimit) is refused every further try until the window ends.
EXISTENCE_PROBE_LIMIT = int(os.environ.get("EXISTENCE_PROBE_LIMIT", "10"))
EXISTENCE_PROBE_WINDOW = int(os.environ.get("EXISTENCE_PROBE_WINDOW", "3600"))
# Encounters whose admission lies further back than this many days are accepted with a warning.
ENCOUNTER_OLD_ADMISSION_DAYS = int(os.environ.get("ENCOUNTER_OLD_ADMISSION_DAYS", "365"))

# Years a query parameter may ask for (?year=…): anything else is a form error / 400, not a 500.
YEAR_MIN = int(os.environ.get("YEAR_MIN", "2000"))
YEAR_MAX = int(os.environ.get("YEAR_MAX", "2100"))

# Batch settlement: at most this many members per Celery task (settle / re-settle a year;
# simulate a policy). A run splits its members into equal chunks, as many as a multiple of
# SETTLEMENT_WORKER_PROCESSES (the worker's --concurrency), so the processes finish together.
SETTLEMENT_CHUNK_MEMBERS = int(os.environ.get("SETTLEMENT_CHUNK_MEMBERS", "2000"))
SETTLEMENT_SIMULATE_CHUNK_MEMBERS = int(os.environ.get("SETTLEMENT_SIMULATE_CHUNK_MEMBERS", "5000"))
SETTLEMENT_WORKER_PROCESSES = int(os.environ.get("SETTLEMENT_WORKER_PROCESSES", "2"))

# A list export of more rows than this is written by a background job (core.exportjobs): the
# request answers at once with a progress page (docs/security.md, attack 5).
EXPORT_ASYNC_ROWS = int(os.environ.get("EXPORT_ASYNC_ROWS", "5000"))
# Housekeeping (core.housekeeping, daily at 03:10): idempotency keys and finished export jobs
# are kept this long; a running export with no progress this long lost its worker.
IDEMPOTENCY_KEY_DAYS = int(os.environ.get("IDEMPOTENCY_KEY_DAYS", "30"))
EXPORT_RETENTION_DAYS = int(os.environ.get("EXPORT_RETENTION_DAYS", "30"))
EXPORT_STALL_MINUTES = int(os.environ.get("EXPORT_STALL_MINUTES", "15"))
CELERY_BEAT_SCHEDULE["core-housekeeping"] = {
    "task": "core.tasks.housekeeping_task",
    "schedule": crontab(hour=3, minute=10),
}

# Uploaded spreadsheets (core.reader): refused before parsing beyond these limits.
IMPORT_MAX_FILE_MB = float(os.environ.get("IMPORT_MAX_FILE_MB", "20"))
IMPORT_MAX_UNCOMPRESSED_MB = float(os.environ.get("IMPORT_MAX_UNCOMPRESSED_MB", "400"))
IMPORT_MAX_RATIO = int(os.environ.get("IMPORT_MAX_RATIO", "200"))  # uncompressed : compressed, per member
IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS", "200000"))
# Aid applications (docs/aid.md): working days from 受理 to 给付, and the largest document.
AID_DEADLINE_WORKING_DAYS = int(os.environ.get("AID_DEADLINE_WORKING_DAYS", "7"))
# The fund account (payments.Fund name) that pays approved aid applications to the people.
AID_PAYMENT_FUND = os.environ.get("AID_PAYMENT_FUND", "医疗救助资金专户")
AID_DOCUMENT_MAX_BYTES = int(os.environ.get("AID_DOCUMENT_MAX_BYTES", str(10 * 1024 * 1024)))
IMPORT_MAX_COLUMNS = int(os.environ.get("IMPORT_MAX_COLUMNS", "200"))
IMPORT_MAX_CELLS = int(os.environ.get("IMPORT_MAX_CELLS", "5000000"))  # rows × columns of the used range
# A job whose task was delivered this many times without finishing (it killed its worker) fails.
IMPORT_MAX_DELIVERIES = int(os.environ.get("IMPORT_MAX_DELIVERIES", "3"))

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
