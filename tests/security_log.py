"""Capture the ``security`` log stream (it does not propagate to the root logger, so caplog misses it)."""

from __future__ import annotations

import json
import logging

import pytest

from config.security_events import JsonLinesFormatter


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonLinesFormatter())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))

    def events(self, kind: str | None = None) -> list[dict]:
        parsed = [json.loads(line) for line in self.lines]
        return [e for e in parsed if kind is None or e.get("kind") == kind]

    __call__ = events  # security_log("auth.lockout") reads as well as security_log.events(...)


@pytest.fixture
def security_log():
    logger = logging.getLogger("security")
    handler = _Lines()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)
