"""Receivers for the location pipeline's signals (connected in AlertsConfig.ready).

They run after the pipeline's batch has committed. An alert failure is logged and swallowed: it
must never stop location ingest, and the next ``check_alerts`` run repairs whatever was missed.
"""

from __future__ import annotations

import logging

from lifecycle.alerts import services

logger = logging.getLogger(__name__)


def on_room_changes_committed(sender, changes, **kwargs):
    try:
        services.alerts_room_changes(changes=changes)
    except Exception:
        logger.exception("alerts: could not process %d room changes", len(changes))


def on_tags_reported(sender, reports, **kwargs):
    try:
        services.alerts_tag_reports(reports=reports)
    except Exception:
        logger.exception("alerts: could not process %d tag reports", len(reports))
