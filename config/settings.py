"""Flywheel settings: one file, read from the environment, with defaults that need no server."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from config.env import env_bool, env_int, env_list, env_networks, env_str, secret_key_from_file
from config.private_files import PRIVATE_UMASK, make_private

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("FLYWHEEL_DATA_DIR", str(BASE_DIR / "var"))).resolve()
# Before anything is written: the database, blobs and broker files are this user's alone (config/private_files.py).
os.umask(PRIVATE_UMASK)
for _path in (DATA_DIR, DATA_DIR / "secret_key", DATA_DIR / "flywheel.sqlite3"):
    make_private(_path)

# Off unless asked for: `make run` serves people, who should see error pages, not debug dumps.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or secret_key_from_file(DATA_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "allauth",
    "allauth.account",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "template_partials",
    "accounts",
    "models_hub",
    "feedback",
    "training",
    "inference",
]

MIDDLEWARE = [
    "models_hub.middleware.RequestIdMiddleware",
    "models_hub.middleware.ApiJsonErrorsMiddleware",
    "models_hub.middleware.RefuseNulMiddleware",
    "models_hub.middleware.CompleteBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# Database: PostgreSQL from DATABASE_URL, else a SQLite file shared by the web server and the worker.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "flywheel.sqlite3",
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "none")
ACCOUNT_USERNAME_VALIDATORS = "accounts.validators.username_validators"
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_PRESERVE_USERNAME_CASING = True

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "flywheel@localhost")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
WHITENOISE_USE_FINDERS = True

# Blobs go through Django's storage API: local files by default, an S3-compatible bucket by variable.
S3_BUCKET = env_str("S3_BUCKET")
if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "blobs"},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads are streamed to disk next to the blobs, so storing them is a rename, never a copy.
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
# Django would otherwise chmod stored blobs to 0644 whatever the umask.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_HANDLERS = ["models_hub.storage.upload_handlers.HashingFileUploadHandler"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000
FLYWHEEL_MAX_UPLOAD_BYTES = env_int("FLYWHEEL_MAX_UPLOAD_BYTES", 50 * 1024**3)
# Storage each user and organisation may use (models_hub.services.quotas), unless the admin sets
# another figure on the account.
FLYWHEEL_USER_QUOTA_BYTES = env_int("FLYWHEEL_USER_QUOTA_BYTES", 100 * 1024**3)
FLYWHEEL_ORG_QUOTA_BYTES = env_int("FLYWHEEL_ORG_QUOTA_BYTES", 1024**4)
# Browser upload chunks: each PATCH streams into the upload's file, so a big chunk costs no memory;
# fewer requests cost less. A dropped connection keeps the bytes that arrived either way.
FLYWHEEL_UPLOAD_CHUNK_BYTES = env_int("FLYWHEEL_UPLOAD_CHUNK_BYTES", 64 * 1024 * 1024)
# A browser sends a file bigger than two FLYWHEEL_UPLOAD_PART_BYTES in parts of that size, this many
# at once, each over its own connection: one connection is bound by the browser's own work per byte
# (bench_browser_upload's bound row). Smaller parts cost a request each (16 MiB measured slower).
FLYWHEEL_UPLOAD_PARALLEL = env_int("FLYWHEEL_UPLOAD_PARALLEL", 3)
FLYWHEEL_UPLOAD_PART_BYTES = env_int("FLYWHEEL_UPLOAD_PART_BYTES", 64 * 1024 * 1024)
# Streamed uploads (raw PUT, LFS, browser chunks) bypass the page cache (fastest on local disks);
# turn off on slow or network disks.
FLYWHEEL_UPLOAD_DIRECT_IO = env_bool("FLYWHEEL_UPLOAD_DIRECT_IO", True)
# Files at least this big are presented as LFS objects in the Hub protocol (as the public hub does).
FLYWHEEL_LFS_DISPLAY_THRESHOLD = env_int("FLYWHEEL_LFS_DISPLAY_THRESHOLD", 10 * 1000 * 1000)
# 0 answers "regular" for every file (works with every stock client); above it, Git LFS is offered.
FLYWHEEL_LFS_UPLOAD_THRESHOLD = env_int("FLYWHEEL_LFS_UPLOAD_THRESHOLD", 0)
# A repository's download count goes up once per downloader in this many seconds, so fetching a
# whole snapshot (many files) counts as one download; 0 counts every file request.
FLYWHEEL_DOWNLOAD_COUNT_WINDOW = env_int("FLYWHEEL_DOWNLOAD_COUNT_WINDOW", 300)
# Reverse proxies (addresses or networks) whose X-Forwarded-For is believed; gunicorn reads the same
# variable (platform/gunicorn.conf.py). Empty: the client is whoever connected.
FLYWHEEL_TRUSTED_PROXIES = env_networks("FLYWHEEL_TRUSTED_PROXIES")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": [
        "models_hub.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 30,
    "EXCEPTION_HANDLER": "models_hub.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flywheel API",
    "DESCRIPTION": "Models, datasets, feedback and retraining on a self-hosted hub.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from the installed sidecar package: the docs work air-gapped.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several components have a `status`: the training run's gets a name rather than a hash suffix.
    "ENUM_NAME_OVERRIDES": {"TrainingRunStatusEnum": "training.models.TrainingRun.Status"},
}

# Celery: a broker that needs no server by default (kombu's filesystem transport), a real worker beside it.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # kombu's default is a "control" folder in the current directory (broadcasts such as worker pings).
        "control_folder": str(_broker_dir / "control"),
        # kombu polls the folder (1 s by default); generation is interactive, so look every 10 ms.
        "polling_interval": 0.01,
    }
    # kombu creates none of these folders itself.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_IGNORE_RESULT = True
# Periodic tasks, sent by one `celery beat` process (platform/Procfile, Procfile.dev); its state file
# (when each task last ran) lives with the rest of the data.
_cleanup_every = env_int("FLYWHEEL_CLEANUP_INTERVAL_SECONDS", 3600)
CELERY_BEAT_SCHEDULE = {
    # A run that waited a whole interval for a worker is dropped: the next one does the same work.
    "storage-cleanup": {
        "task": "models_hub.storage_cleanup",
        "schedule": _cleanup_every,
        "options": {"expires": _cleanup_every},
    },
    # Generations whose worker died (no heartbeat for 2 minutes) end failed instead of waiting forever.
    "generations-reap": {"task": "inference.generations_reap", "schedule": 60.0, "options": {"expires": 60.0}},
    # Training runs whose worker died resume from their last checkpoint (or fail with the reason).
    "training-runs-reap": {"task": "training.runs_reap", "schedule": 60.0, "options": {"expires": 60.0}},
    # Feedback snapshots whose message was lost or whose worker died are sent again.
    "feedback-snapshots-resend": {"task": "feedback.snapshots_resend", "schedule": 60.0, "options": {"expires": 60.0}},
}
# Dataset validations whose message was lost or whose worker died are sent again.
CELERY_BEAT_SCHEDULE["dataset-validations-resend"] = {
    "task": "models_hub.dataset_validations_resend",
    "schedule": 300.0,
    "options": {"expires": 300.0},
}
# The arena's leaderboard is refitted now and then (and soon after votes, see FLYWHEEL_ARENA_REFIT_DEBOUNCE_SECONDS).
CELERY_BEAT_SCHEDULE["arena-leaderboard-refit"] = {
    "task": "feedback.arena_leaderboard_refit",
    "schedule": float(env_int("FLYWHEEL_ARENA_REFIT_INTERVAL_SECONDS", 600)),
    "options": {"expires": 600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "inference.generations_reap": {"queue": "default"},  # never behind a long generation
    "training.runs_reap": {"queue": "default"},  # never behind a long training run
    "feedback.*": {"queue": "default"},  # creating a campaign's rows is quick database work
    "training.*": {"queue": "training"},
    "inference.*": {"queue": "inference"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# One inference task at a time per worker process: it batches what is queued for the same model itself.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# Generation (inference/): limits, the worker's model memory and batching, an optional external backend.
FLYWHEEL_MAX_NEW_TOKENS = env_int("FLYWHEEL_MAX_NEW_TOKENS", 512)
FLYWHEEL_MAX_PROMPT_CHARS = env_int("FLYWHEEL_MAX_PROMPT_CHARS", 16_000)
FLYWHEEL_GENERATIONS_PER_MINUTE = env_int("FLYWHEEL_GENERATIONS_PER_MINUTE", 60)
FLYWHEEL_RATINGS_PER_MINUTE = env_int("FLYWHEEL_RATINGS_PER_MINUTE", 600)
# Rating queue: the largest prompt set file and the most prompts in one set.
FLYWHEEL_PROMPT_SET_MAX_BYTES = env_int("FLYWHEEL_PROMPT_SET_MAX_BYTES", 20 * 1024 * 1024)
FLYWHEEL_PROMPT_SET_MAX_PROMPTS = env_int("FLYWHEEL_PROMPT_SET_MAX_PROMPTS", 10_000)
FLYWHEEL_INFERENCE_MEMORY_BYTES = env_int("FLYWHEEL_INFERENCE_MEMORY_BYTES", 4 * 1024**3)
FLYWHEEL_MAX_BATCH = env_int("FLYWHEEL_MAX_BATCH", 16)
# torch threads of an inference worker; 0 keeps torch's default (one per core). On a 2-core machine that also
# serves the web, 1 measured faster (bench/README.md, bench_generation).
FLYWHEEL_INFERENCE_THREADS = env_int("FLYWHEEL_INFERENCE_THREADS", 0)
# A wait before a batch starts; 0 by default, since later requests join a running batch between steps.
FLYWHEEL_BATCH_WINDOW_MS = env_int("FLYWHEEL_BATCH_WINDOW_MS", 0)
# Training (training/): torch threads per training worker (0: every core), how often progress is written, when a
# silent run is taken for dead, how often it may resume, and the fewest train rows a run accepts.
FLYWHEEL_TRAINING_THREADS = env_int("FLYWHEEL_TRAINING_THREADS", 0)
FLYWHEEL_TRAINING_REPORT_SECONDS = float(env_int("FLYWHEEL_TRAINING_REPORT_MS", 1000)) / 1000
FLYWHEEL_TRAINING_HEARTBEAT_TIMEOUT = env_int("FLYWHEEL_TRAINING_HEARTBEAT_TIMEOUT", 120)
FLYWHEEL_TRAINING_MAX_ATTEMPTS = env_int("FLYWHEEL_TRAINING_MAX_ATTEMPTS", 3)
FLYWHEEL_TRAINING_MIN_ROWS = env_int("FLYWHEEL_TRAINING_MIN_ROWS", 8)
# How often a run page asks for the run's progress while it trains.
FLYWHEEL_RUN_PAGE_POLL_MS = env_int("FLYWHEEL_RUN_PAGE_POLL_MS", 2000)
FLYWHEEL_INFERENCE_URL = env_str("FLYWHEEL_INFERENCE_URL")  # an OpenAI-compatible server instead of the worker
FLYWHEEL_INFERENCE_API_KEY = env_str("FLYWHEEL_INFERENCE_API_KEY")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Arena (feedback/arena/): battles, votes and the leaderboard.
FLYWHEEL_ARENA_MAX_PROMPT_CHARS = env_int("FLYWHEEL_ARENA_MAX_PROMPT_CHARS", 4000)
FLYWHEEL_ARENA_MAX_NEW_TOKENS = env_int("FLYWHEEL_ARENA_MAX_NEW_TOKENS", 96)
FLYWHEEL_ARENA_VOTES_PER_DAY = env_int("FLYWHEEL_ARENA_VOTES_PER_DAY", 300)
FLYWHEEL_ARENA_MIN_BATTLES = env_int("FLYWHEEL_ARENA_MIN_BATTLES", 10)  # before a revision is ranked
FLYWHEEL_ARENA_BOOTSTRAP_ROUNDS = env_int("FLYWHEEL_ARENA_BOOTSTRAP_ROUNDS", 1000)
FLYWHEEL_ARENA_PROMPT_REPEATS = env_int("FLYWHEEL_ARENA_PROMPT_REPEATS", 3)  # battles one prompt weighs at most
FLYWHEEL_ARENA_VOTER_MIN_VOTES = env_int(
    "FLYWHEEL_ARENA_VOTER_MIN_VOTES", 20
)  # decisive votes before a voter is tested
FLYWHEEL_ARENA_REFIT_DEBOUNCE_SECONDS = env_int("FLYWHEEL_ARENA_REFIT_DEBOUNCE_SECONDS", 30)
FLYWHEEL_ARENA_PIN_BATTLES = env_int("FLYWHEEL_ARENA_PIN_BATTLES", 50)  # battles opened for a retrained revision
# Names that give a battle away besides the models' own (an output naming one is dropped).
FLYWHEEL_ARENA_LEAK_NAMES = [
    n.strip()
    for n in env_str(
        "FLYWHEEL_ARENA_LEAK_NAMES",
        "openai,chatgpt,gpt-3,gpt-3.5,gpt-4,gpt-4o,anthropic,claude,google,gemini,bard,gemma,meta ai,llama,"
        "mistral,mixtral,qwen,alibaba,deepseek,microsoft,phi-3,cohere,command-r,falcon,hugging face,huggingface",
    ).split(",")
]

# Shared by every web process on a machine (the facet lists are cached here); Redis when CACHE_URL is set.
# "downloads" remembers who downloaded what lately (FLYWHEEL_DOWNLOAD_COUNT_WINDOW): one key per
# downloader and repository, kept apart so they never push the facets out.
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {
        alias: {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL, "KEY_PREFIX": alias}
        for alias in ("default", "downloads")
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": DATA_DIR / "cache"},
        # The file cache lists its folder when a key is added, so the cap is a trade-off: 20,000
        # downloaders per window before old keys are dropped (and counted again); Redis has no cap.
        "downloads": {
            "BACKEND": "config.cache.AtomicAddFileCache",
            "LOCATION": DATA_DIR / "cache-downloads",
            "OPTIONS": {"MAX_ENTRIES": 20_000},
        },
    }

SECURE_CONTENT_TYPE_NOSNIFF = True
# Pages run only the site's own scripts and styles (no inline code, no eval: htmx is configured for it
# in base.html). data: images are pico.css's icons. User content never gets a wider policy: file
# downloads carry their own sandbox, and the ReDoc page alone widens it (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
# Secure cookies need HTTPS: turn them on where the site is served over it (see README).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", SITE_URL.startswith("https://"))
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", SITE_URL.startswith("https://"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

for _path in (DATA_DIR, DATA_DIR / "tmp", DATA_DIR / "uploads", DATA_DIR / "static"):
    _path.mkdir(parents=True, exist_ok=True)
