import signal
import threading

from django.core.management.base import BaseCommand

from lifecycle.outbox import location_outbox_pending
from locations.outbox import drain, run_consumer


class Command(BaseCommand):
    help = (
        "Apply the location outbox: the room-type rules, location alerts and webhooks of every room change "
        "the engine workers committed, each exactly once, in order. Run one (or more) next to run_engine in "
        "production (LOCATION_OUTBOX_CONSUMER=command); the embedded default runs it in-process."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="apply what is pending, then stop")
        parser.add_argument("--poll", type=float, default=0.5, metavar="SECONDS", help="wait between polls")

    def handle(self, *args, once=False, poll=0.5, **options):
        if once:
            applied = drain(limit=10**9)
            self.stdout.write(f"applied {applied} outbox rows; {location_outbox_pending()} left pending")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stderr.write("consume_location_outbox: running")
        run_consumer(stop=stop, poll_s=poll)
        self.stderr.write("consume_location_outbox: stopped")
