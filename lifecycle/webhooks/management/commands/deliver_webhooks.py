"""Send due webhook deliveries and retries: once (--once), or forever, polling every --interval seconds.

Each pass first emits the merged asset.moved events whose throttle window has ended
(lifecycle/webhooks/moves.py), and sleeps no longer than until the next one falls due.
"""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from lifecycle.webhooks.moves import asset_moves_flush_due, asset_moves_next_due
from lifecycle.webhooks.services import webhook_deliver_due


class Command(BaseCommand):
    help = "Send pending webhook deliveries (first attempts and retries with backoff)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit (cron, tests)")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between passes (default 5)")
        parser.add_argument("--batch", type=int, default=100, help="deliveries per pass (default 100)")

    def handle(self, *args, once=False, interval=5.0, batch=100, **options):
        while True:
            moves = asset_moves_flush_due()
            report = webhook_deliver_due(limit=batch)
            if report.attempted or moves or once:
                self.stdout.write(
                    f"webhooks: {len(report.succeeded)} delivered, {len(report.retrying)} to retry, "
                    f"{len(report.failed)} failed for good; {moves} merged asset.moved event(s) emitted"
                )
            if once:
                return
            if report.attempted < batch:
                next_move = asset_moves_next_due()
                until_move = (next_move - timezone.now()).total_seconds() if next_move else interval
                time.sleep(max(0.05, min(interval, until_move)))
            close_old_connections()  # a long-running worker: drop a connection the database closed meanwhile
