"""The embedded demo in one process: the ASGI server and, in a thread of it, the RTLS simulator.

With the in-memory channel layer (no REDIS_URL) only code in the server's own process can reach
the floor maps' WebSockets, so `make demo` runs the simulator here rather than as a second
process. With Redis configured, run `runserver` and `simulate_rtls --live` separately instead.
"""

import threading
import time

from daphne.management.commands.runserver import Command as RunserverCommand
from django.core.management import call_command
from django.db import connection

from locations.live import use_server_loop


class Command(RunserverCommand):
    help = "Serve the demo and run the RTLS simulator in the same process, so the floor map moves live."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--speed", type=float, default=4.0, help="simulator: equipment moves this much more often")
        parser.add_argument("--no-simulator", action="store_true", help="serve only")

    def inner_run(self, *args, **options):
        if not options["no_simulator"]:
            threading.Thread(
                target=self._simulate, args=(options["speed"],), name="rtls-simulator", daemon=True
            ).start()
        super().inner_run(*args, **options)

    def _simulate(self, speed: float) -> None:
        loop = None
        for _ in range(100):  # the server installs and starts its event loop on the main thread
            # Imported here, in the loop: daphne.server's twisted_loop is set once the server has started.
            from daphne.server import twisted_loop  # noqa: PLC0415 — see above

            loop = twisted_loop
            if loop.is_running():
                break
            time.sleep(0.1)
        use_server_loop(loop, loop_thread_id=threading.main_thread().ident)
        try:
            call_command("simulate_rtls", "--live", "--speed", str(speed))
        except Exception as exc:
            self.stderr.write(f"RTLS simulator stopped: {exc}")
        finally:
            connection.close()
            use_server_loop(None)
