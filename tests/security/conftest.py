"""The ``security`` logger does not propagate to the root logger (its own JSON stream, docs/operations.md),
so pytest's caplog would miss it: these tests read it through caplog, so caplog's handler listens there too."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _security_stream_in_caplog(caplog):
    logger = logging.getLogger("security")
    logger.addHandler(caplog.handler)
    yield
    logger.removeHandler(caplog.handler)
