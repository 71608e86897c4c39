"""Settings for the hospital asset-tracking system.

One file, configured from the environment. The defaults are the embedded setup a laptop
needs (SQLite, in-memory channel layer, DEBUG on); production sets DEBUG=0 and must then
provide a real SECRET_KEY, or the process refuses to start.

| variable          | default                          | meaning                                    |
| ----------------- | -------------------------------- | ------------------------------------------ |
| DEBUG             | 1                                | 0 in production                            |
| SECRET_KEY        | a development key (DEBUG only)   | required, >= 50 characters, when DEBUG=0   |
| ALLOWED_HOSTS     | localhost,127.0.0.1 (DEBUG only) | comma-separated                            |
| DATABASE_URL      | sqlite:///db.sqlite3             | postgres://user:pass@host:5432/name        |
| REDIS_URL         | (none: in-memory channel layer)  | redis://host:6379/0                        |
| MQTT_URL          | mqtt://127.0.0.1:1883            | broker for the MQTT ingest worker          |
| HEALTHZ_TOKEN     | (none: staff sessions only)      | Bearer token for /healthz detail           |
"""

import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from xstatic.pkg import leaflet as xstatic_leaflet

from config.env import database_from_url, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)

# Only ever used with DEBUG on; production refuses it below.
DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = env_str("SECRET_KEY") or DEV_SECRET_KEY
if not DEBUG:
    if SECRET_KEY == DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is missing or is the development default. With DEBUG=0 set SECRET_KEY to a "
            "random value of at least 50 characters, for example: "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 50 random characters.")

# With DEBUG on, answer loopback clients only (config/middleware.py): tracebacks never leave the machine.
# /healthz detail for monitoring: "Authorization: Bearer <HEALTHZ_TOKEN>" (empty: staff sessions only).
HEALTHZ_TOKEN = env_str("HEALTHZ_TOKEN") or ""
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is empty. With DEBUG=0 set ALLOWED_HOSTS=assets.example-hospital.org")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # ASGI runserver, so `runserver` serves WebSockets too
    "accounts.admin_apps.HospitalAdminConfig",  # django.contrib.admin with TOTP sign-in (accounts/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_fsm",
    "locations",
    "assets",
    "lifecycle",
    "lifecycle.decommissioning",
    "lifecycle.alerts",
    "lifecycle.requests",
    "lifecycle.webhooks",
    "fhir",  # FHIR R4 read/search under /fhir/r4/ (docs/fhir.md)
    "lifecycle.biomed",
    "accounts",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
]

MIDDLEWARE = [
    "config.middleware.LoopbackOnlyWhenDebugMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # after sessions, before common: Accept-Language or the cookie
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified() (the admin's second factor)
    "accounts.sessions.SessionTimeoutMiddleware",  # idle / maximum session age
    "config.security_events.SecurityEventMiddleware",  # 401/403 to the security log; who acts, for the audit
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into its 429 page
]

# Content-Security-Policy (django-csp): scripts only from this server (no inline script, no eval), so an
# injected <script> or onerror= does nothing; no plugins, no framing, forms post only here. Styles allow
# inline <style> blocks and style attributes (the admin's and the map's own; they cannot run code).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],  # CSP 3: 'self' includes ws(s):// to this host (the map's live updates)
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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
                "django.template.context_processors.i18n",  # LANGUAGES and LANGUAGE_CODE for the pickers
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL") or "sqlite:///db.sqlite3"
DATABASES = {"default": database_from_url(DATABASE_URL, base_dir=BASE_DIR)}
# SQLite has no roles, so the audit tables cannot be made append-only for the application's own account
# (docs/operations.md, "Audit trail"): production runs on PostgreSQL unless this is set on purpose.
ALLOW_SQLITE_IN_PRODUCTION = env_bool("ALLOW_SQLITE_IN_PRODUCTION", False)
if not DEBUG and DATABASES["default"]["ENGINE"].endswith("sqlite3") and not ALLOW_SQLITE_IN_PRODUCTION:
    raise ImproperlyConfigured(
        "DATABASE_URL is SQLite, which production does not use: set DATABASE_URL=postgres://... "
        "(or ALLOW_SQLITE_IN_PRODUCTION=1 to accept an audit trail the application itself could rewrite)"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

MQTT_URL = env_str("MQTT_URL") or "mqtt://127.0.0.1:1883"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

# Languages (docs/translating.md): English is the source; the browser's Accept-Language picks the default,
# and the language picker on the map and in the admin (Django's set_language) stores the choice in a cookie.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("es", "Español"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "hx_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env_str("TIME_ZONE") or "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Our own static files (the floor map), and Leaflet from the xstatic-leaflet package: no CDN, because
# hospital intranets are often offline.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/leaflet", xstatic_leaflet.BASE_DIR)]
# How often the floor map polls when it has no live connection, or when the channel layer is in memory
# (events from other processes, such as the simulator, only arrive by polling then). docs/map.md.
MAP_POLL_SECONDS = env_int("MAP_POLL_SECONDS", 5)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",  # Authorization: Token <key>, hashed and expiring
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Least privilege: signed in AND a role that may read the inventory (declarations/policy.py).
    "DEFAULT_PERMISSION_CLASSES": ["config.api_permissions.MayReadAssets"],
    # django-filter's, with yes/no filters that refuse what is not yes or no (config/api_filters.py).
    "DEFAULT_FILTER_BACKENDS": ["config.api_filters.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hospital asset tracking API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# --- Dispatch REST API (docs/api.md) --------------------------------------------------------------
REST_FRAMEWORK.update(
    {
        # One error format everywhere: {"code", "message", "field_errors"} (config/api.py).
        "EXCEPTION_HANDLER": "config.api.exception_handler",
        "DEFAULT_PAGINATION_CLASS": "config.api.PageNumberPagination",
        "DEFAULT_THROTTLE_CLASSES": ["config.api.PerUserRateThrottle", "config.api.AnonymousRateThrottle"],
    }
)
# Requests per signed-in user (per client address when anonymous); empty: no limit.
API_USER_THROTTLE_RATE = env_str("API_USER_THROTTLE_RATE", "1200/min") or None
API_ANON_THROTTLE_RATE = env_str("API_ANON_THROTTLE_RATE", "60/min") or None
SPECTACULAR_SETTINGS.update(
    {
        "DESCRIPTION": "Find, reserve and deliver equipment; equipment requests; decommissioning; alerts. "
        "Guide: docs/api.md. Every error is {code, message, field_errors}.",
        "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
        "SERVE_INCLUDE_SCHEMA": False,
        "SCHEMA_PATH_PREFIX": "/api/v1",
        "COMPONENT_SPLIT_REQUEST": True,
        "PREPROCESSING_HOOKS": ["config.api.drop_trailing_slash_aliases"],
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "config.api.add_error_responses",
        ],
        "ENUM_NAME_OVERRIDES": {
            "AssetStateEnum": "declarations.states.AssetState",
            "LocationStatusEnum": "declarations.location_status.LocationStatus",
            "WebhookEventEnum": "lifecycle.webhooks.choices.WebhookEvent",
        },
    }
)
# Nearest-available search (lifecycle.nearest): metres added per floor of difference, and for another building.
NEAREST_FLOOR_PENALTY_M = float(env_int("NEAREST_FLOOR_PENALTY_M", 40))
NEAREST_BUILDING_PENALTY_M = float(env_int("NEAREST_BUILDING_PENALTY_M", 250))
# Webhooks (lifecycle/webhooks): "on_commit" makes the first attempt from a thread right after the change
# commits; "worker" leaves every attempt to `manage.py deliver_webhooks`, which also does the retries.
WEBHOOK_DELIVERY = env_str("WEBHOOK_DELIVERY") or "on_commit"
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30)
WEBHOOK_RETRY_MAX_SECONDS = env_int("WEBHOOK_RETRY_MAX_SECONDS", 3600)
# asset.moved (docs/integrations.md): at most one per asset per this many seconds, the latest room winning.
WEBHOOK_ASSET_MOVED_THROTTLE_SECONDS = env_int("WEBHOOK_ASSET_MOVED_THROTTLE_SECONDS", 30)
# FHIR R4 (docs/fhir.md): identifier systems, and the organisation named as managingOrganization / owner.
FHIR_ASSET_TAG_SYSTEM = env_str("FHIR_ASSET_TAG_SYSTEM") or "urn:hospital-assets:asset-tag"
FHIR_RTLS_TAG_SYSTEM = env_str("FHIR_RTLS_TAG_SYSTEM") or "urn:hospital-assets:rtls-tag"
FHIR_LOCATION_CODE_SYSTEM = env_str("FHIR_LOCATION_CODE_SYSTEM") or "urn:hospital-assets:location-code"
FHIR_ORGANIZATION_NAME = env_str("FHIR_ORGANIZATION_NAME")
FHIR_ORGANIZATION_REFERENCE = env_str("FHIR_ORGANIZATION_REFERENCE")  # e.g. the EHR's Organization/123
# Webhook targets (lifecycle/webhooks/addresses.py): https only in production, public addresses only,
# except the hosts / IPs / networks listed here (intranet receivers, on purpose).
WEBHOOK_REQUIRE_HTTPS = env_bool("WEBHOOK_REQUIRE_HTTPS", not DEBUG)
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", [])

# Location freshness (docs/design.md §2): located within STALE_AFTER, stale until MISSING_AFTER.
LOCATION_STALE_AFTER_SECONDS = env_int("LOCATION_STALE_AFTER_SECONDS", 10 * 60)
LOCATION_MISSING_AFTER_SECONDS = env_int("LOCATION_MISSING_AFTER_SECONDS", 24 * 60 * 60)
# Rooms may share walls; polygons that overlap by more than this area (m²) are refused.
ROOM_OVERLAP_TOLERANCE_M2 = 0.05

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"control_characters": {"()": "config.security_events.ControlCharacterFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.security_events.JsonLinesFormatter"},
    },
    "handlers": {
        # Control characters in messages (MQTT topics, tag ids, user names from outside) are escaped.
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["control_characters"]},
        # Security events, one JSON object per line (docs/operations.md: shipping them to a SIEM).
        "security": (
            {
                "class": "logging.handlers.WatchedFileHandler",
                "filename": env_str("SECURITY_LOG_FILE"),
                "formatter": "json",
            }
            if env_str("SECURITY_LOG_FILE")
            else {"class": "logging.StreamHandler", "formatter": "json"}
        ),
    },
    "loggers": {"security": {"handlers": ["security"], "level": "INFO", "propagate": False}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL") or "INFO"},
}

# Tags reporting a battery below this percentage raise a low-battery alert.
TAG_LOW_BATTERY_PERCENT = env_int("TAG_LOW_BATTERY_PERCENT", 20)
# Active receivers not heard for this long raise a silent-receiver alert (check_alerts).
RECEIVER_SILENT_AFTER_SECONDS = env_int("RECEIVER_SILENT_AFTER_SECONDS", 15 * 60)
# A gateway whose clock the engine finds off the site's consensus by more than this raises an alert.
GATEWAY_CLOCK_ALERT_SECONDS = env_int("GATEWAY_CLOCK_ALERT_MS", 1000) / 1000
# A restarted engine corrects each gateway's clock with the offset stored on its receiver row if it was
# estimated at most this long ago (20 ppm of drift is 72 ms an hour; windows tolerate a few hundred ms),
# instead of taking timestamps as they are for the minute its first estimate takes (docs/location-engine.md).
GATEWAY_CLOCK_RESUME_MAX_AGE_SECONDS = env_int("GATEWAY_CLOCK_RESUME_MAX_AGE_SECONDS", 60 * 60)

# --- Gateway ingest (docs/gateways.md, docs/operations.md) ---------------------------------------
# The queue between the ingest fronts and the engine workers: "redis" (Redis Streams, production) or
# "memory" (in-process, the embedded default). Redis is used whenever REDIS_URL is set.
INGEST_REDIS_URL = env_str("INGEST_REDIS_URL") or REDIS_URL
INGEST_QUEUE = env_str("INGEST_QUEUE") or ("redis" if INGEST_REDIS_URL else "memory")
# Key prefix of the streams, shard locks and worker registry (one per deployment sharing a Redis).
INGEST_STREAM_PREFIX = env_str("INGEST_STREAM_PREFIX") or "rtls"
# Streams (one per shard, by CRC-32 of the tag). Changing it re-maps tags: drain the queue first.
INGEST_SHARDS = env_int("INGEST_SHARDS", 8)
# A worker that has not renewed its shard locks for this long is presumed dead; another takes over.
INGEST_LOCK_TTL_MS = env_int("INGEST_LOCK_TTL_MS", 15_000)
# Acknowledged entries are kept this long (for inspection), then trimmed. Unacknowledged ones never are.
INGEST_STREAM_RETAIN_SECONDS = env_int("INGEST_STREAM_RETAIN_SECONDS", 600)
# With the in-process queue, the web (or ingest_mqtt) process runs the engine worker in a thread.
INGEST_IN_PROCESS_WORKER = env_bool("INGEST_IN_PROCESS_WORKER", True)
# HTTP front: largest accepted body (413 above), per-gateway rate (429 above; empty = no limit).
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024)
INGEST_THROTTLE_RATE = env_str("INGEST_THROTTLE_RATE", "300/min") or None
# Every front: a gateway batch of more items than this is refused whole (HTTP 413), however small its body
# (a megabyte of "0," is half a million items to reject one by one); 0 = no limit.
INGEST_MAX_BATCH_ITEMS = env_int("INGEST_MAX_BATCH_ITEMS", 10_000)
# Items stamped further than this ahead of the receiving clock are rejected one by one.
INGEST_MAX_FUTURE_SECONDS = env_int("INGEST_MAX_FUTURE_SECONDS", 60)
# ... and, at the live fronts (HTTP, MQTT), items stamped further than this behind it: a gateway whose clock
# was reset (to 2000, or a year back) is told why at the door instead of its tags being placed years ago.
# A day: the backlog a gateway or the MQTT broker holds through an outage is younger. Replays have no limit.
INGEST_MAX_PAST_SECONDS = env_int("INGEST_MAX_PAST_SECONDS", 86_400)
# How long a verified gateway token / the list of active receivers is trusted before re-reading the
# database (a revocation in the admin of the same process applies at once).
INGEST_TOKEN_CACHE_SECONDS = env_int("INGEST_TOKEN_CACHE_SECONDS", 30)
# Every process checks the shared revocation marker this often, so a revocation applies everywhere in ~1 s.
INGEST_TOKEN_REVOCATION_CHECK_SECONDS = float(env_str("INGEST_TOKEN_REVOCATION_CHECK_SECONDS") or 1.0)
INGEST_GATEWAY_CACHE_SECONDS = env_int("INGEST_GATEWAY_CACHE_SECONDS", 30)
# MQTT front: the largest message accepted (bigger ones are dropped unparsed and counted as malformed).
# Set the broker's own limit too (mosquitto: message_size_limit), docs/operations.md.
INGEST_MQTT_MAX_MESSAGE_BYTES = env_int("INGEST_MQTT_MAX_MESSAGE_BYTES", 256 * 1024)
# MQTT front (ingest_mqtt): topic prefix (rtls/<gateway>/sightings) and the fixed client id of the
# persistent session the broker queues messages for while the worker is down.
INGEST_MQTT_TOPIC_PREFIX = env_str("INGEST_MQTT_TOPIC_PREFIX") or "rtls"
INGEST_MQTT_CLIENT_ID = env_str("INGEST_MQTT_CLIENT_ID") or "hospital-assets-ingest"
# /healthz reports "degraded" when the oldest unprocessed queue entry is older than this.
INGEST_LAG_WARN_SECONDS = env_int("INGEST_LAG_WARN_SECONDS", 30)
# The per-gateway throttle counters: shared by every ASGI process through Redis when there is one.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ingest": (
        {
            "BACKEND": "config.redis_cache.ReusedClientRedisCache",  # one client per pool (config/redis_cache.py)
            "LOCATION": INGEST_REDIS_URL,
            "KEY_PREFIX": INGEST_STREAM_PREFIX,
        }
        if INGEST_REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ingest"}
    ),
}
# A worker that takes a shard over (or rebuilds after a database error) first replays this much of the
# shard's already committed entries, without committing them again, so each tag's smoothing continues as it
# was; the streams must keep that much (INGEST_STREAM_RETAIN_SECONDS).
INGEST_WARMUP_SECONDS = env_int("INGEST_WARMUP_SECONDS", 30)
# Pipeline writes (issue 12): an asset's last_seen/located_at, a tag's battery/last_seen and a receiver's
# last_heard are written at most once per this many seconds of event time each (freshness is judged over
# minutes); room changes are committed at once, whatever this says.
LOCATION_SEEN_WRITE_SECONDS = env_int("LOCATION_SEEN_WRITE_SECONDS", 30)
# When the queue is idle, the worker closes the engine's windows older than this many seconds of wall
# clock, so a tag or a site that goes quiet has its last room committed within seconds.
INGEST_IDLE_FLUSH_LAG_SECONDS = env_int("INGEST_IDLE_FLUSH_LAG_SECONDS", 4)
# The live engine workers (run_engine) wait for a window at most this long past its end for the copies of
# its ping from slower gateways (the engine's learnt per-gateway lateness, capped: EngineConfig
# allowed_lateness_s, 12 s by default, which replays keep). A batch later than this is counted as too late
# to place; one hiccup can no longer make every live decision wait 12 s (docs/benchmarks.md, live path:
# 8 s measured best: in a world where a tenth of the gateways deliver half their batches 2-8 s late it cut
# the decision from 10.7 to 8.9 s for 0.17 % of sightings dropped, and it never binds when gateways are
# prompt). 0 (the default) keeps the engine's 12 s: with 8 s, the fault test "killing a worker mid-stream,
# another takes over, the history is identical" decided a few moves one window later once in CI
# (2026-12-06 22:50 UTC), so it stays off until a takeover is shown to decide the same with the cap.
INGEST_LIVE_MAX_WAIT_SECONDS = float(env_str("INGEST_LIVE_MAX_WAIT_SECONDS") or 0)
# Who applies the location outbox (room-type rules, alerts, webhooks): "in-process" (a thread of the
# process that commits locations: the embedded default) or "command" (manage.py consume_location_outbox,
# production with Redis).
LOCATION_OUTBOX_CONSUMER = env_str("LOCATION_OUTBOX_CONSUMER") or (
    "command" if INGEST_QUEUE == "redis" else "in-process"
)

# --- Sign-in, sessions and API tokens (docs/security.md, README "Sign-in limits") ----------------
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LockoutBackend",  # first: django-axes refuses a locked-out sign-in before the password check
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout (django-axes) on /admin/login/, /map/login/ and /api/v1/auth/step-up/: after SIGNIN_FAILURE_LIMIT
# failed attempts for one username from one address, that pair is refused for SIGNIN_LOCKOUT_MINUTES.
# Username + address together: a ward's shared workstation is not locked for everyone by one person's typos,
# and nobody can lock a colleague out from another machine.
AXES_FAILURE_LIMIT = env_int("SIGNIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("SIGNIN_LOCKOUT_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_VERBOSE = False  # our own security events say it, as one JSON line (config/security_events.py)
# Two-factor sign-in (TOTP) for the admin: required for these roles and for superusers.
OTP_REQUIRED_ROLES = env_list("OTP_REQUIRED_ROLES", ["Clinical engineering", "Security"])
OTP_REQUIRED_FOR_SUPERUSERS = env_bool("OTP_REQUIRED_FOR_SUPERUSERS", True)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER") or "Hospital assets"
# Sessions on shared nursing workstations: signed out after SESSION_IDLE_MINUTES without activity (live map
# updates and polling are not activity), and SESSION_MAX_HOURS after sign-in whatever happens. The map warns
# SESSION_WARN_SECONDS before it signs out.
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_MINUTES", 15) * 60
SESSION_MAX_AGE_SECONDS = env_int("SESSION_MAX_HOURS", 12) * 3600
SESSION_WARN_SECONDS = env_int("SESSION_WARN_SECONDS", 120)
SESSION_COOKIE_AGE = SESSION_MAX_AGE_SECONDS
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", True)  # closing the browser signs out
# Checklist sign-off and decommissioning need a sign-in (password + second factor) at most this old; API
# clients get a step-up token from POST /api/v1/auth/step-up/ that lives this long.
FRESH_SIGNIN_MINUTES = env_int("FRESH_SIGNIN_MINUTES", 10)
# Long-lived API tokens (manage.py issue_token, the admin) expire after this many days.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90)
# Failed gateway authentications per source address (HTTP ingest): above this, answered 429 (never a lockout
# of a valid token, which is still accepted) and logged once per window instead of once per attempt.
GATEWAY_AUTH_FAILURE_RATE = env_str("GATEWAY_AUTH_FAILURE_RATE", "20/min") or None
if GATEWAY_AUTH_FAILURE_RATE and not re.fullmatch(r"\d+/[smhd]\w*", GATEWAY_AUTH_FAILURE_RATE):
    raise ImproperlyConfigured(
        f"GATEWAY_AUTH_FAILURE_RATE={GATEWAY_AUTH_FAILURE_RATE!r}: use a number per s, min, hour or day (20/min)"
    )
LOGGING["loggers"] = {"security": {"handlers": ["console"], "level": "INFO", "propagate": False}}
