"""Settings come from the environment; production refuses unsafe defaults and passes check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from config.env import database_from_url

BASE_DIR = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" + "".join(chr(33 + (i * 7) % 90) for i in range(70))


def run_manage(*args, **env):
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("key", [None, settings.DEV_SECRET_KEY, "short-key"])
def test_production_refuses_to_start_without_a_real_secret_key(key):
    env = {"DEBUG": "0", "ALLOWED_HOSTS": "assets.example.org"}
    if key is not None:
        env["SECRET_KEY"] = key
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_an_empty_allowed_hosts():
    result = run_manage("check", DEBUG="0", SECRET_KEY=STRONG_KEY)
    assert result.returncode != 0 and "ALLOWED_HOSTS is empty" in result.stderr


def test_production_settings_pass_check_deploy_with_no_warnings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="assets.example.org",
        DATABASE_URL="postgres://app@db.internal:5432/assets",  # production runs on PostgreSQL (not contacted)
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_database_url_parsing():
    pg = database_from_url("postgres://app:s%40cret@db.internal:6543/assets?sslmode=require", base_dir=BASE_DIR)
    assert (pg["ENGINE"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "django.db.backends.postgresql",
        "app",
        "s@cret",
        "db.internal",
        "6543",
        "assets",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    assert database_from_url("sqlite:///db.sqlite3", base_dir=BASE_DIR)["NAME"] == str(BASE_DIR / "db.sqlite3")
    assert database_from_url("sqlite:////var/lib/a.db", base_dir=BASE_DIR)["NAME"] == "/var/lib/a.db"
    with pytest.raises(ValueError, match="mysql"):
        database_from_url("mysql://x@y/z", base_dir=BASE_DIR)


def test_the_embedded_default_needs_no_server():
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}}
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=environment, capture_output=True, text=True)
    assert result.stdout.split() == ["django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer"]


def test_configured_services_are_used_when_the_variables_are_set():
    environment = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
    }
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=environment, capture_output=True, text=True)
    assert result.stdout.split() == ["django.db.backends.postgresql", "channels_redis.core.RedisChannelLayer"]


def test_production_refuses_sqlite_unless_allowed_explicitly():
    env = {"DEBUG": "0", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "assets.example.org"}
    refused = run_manage("check", DATABASE_URL="sqlite:///prod.sqlite3", **env)
    assert refused.returncode != 0 and "DATABASE_URL is SQLite, which production does not use" in refused.stderr
    allowed = run_manage("check", DATABASE_URL="sqlite:///prod.sqlite3", ALLOW_SQLITE_IN_PRODUCTION="1", **env)
    assert allowed.returncode == 0, allowed.stderr
