"""The live workers' cap on how long a window waits for slower gateways (INGEST_LIVE_MAX_WAIT_SECONDS)."""

from locations.engine import EngineConfig
from locations.ingest.worker import live_engine_config


def test_the_live_workers_keep_the_engines_wait_by_default(settings):
    assert live_engine_config() is None  # off by default (config/settings.py says why)
    settings.INGEST_LIVE_MAX_WAIT_SECONDS = 8
    assert live_engine_config().allowed_lateness_s == 8.0
    assert EngineConfig().allowed_lateness_s == 12.0  # replays keep the engine's own, longer wait


def test_the_cap_can_be_switched_off_or_set(settings):
    settings.INGEST_LIVE_MAX_WAIT_SECONDS = 0
    assert live_engine_config() is None  # the engine's defaults
    settings.INGEST_LIVE_MAX_WAIT_SECONDS = 5
    assert live_engine_config().allowed_lateness_s == 5.0
    settings.INGEST_LIVE_MAX_WAIT_SECONDS = 30  # longer than the engine's own: no cap
    assert live_engine_config() is None
