import cProfile
import json
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from locations.ingest.queue import build_queue
from locations.ingest.worker import EngineWorker, live_pipeline
from locations.outbox import consumer_mode, ensure_in_process_consumer


class Command(BaseCommand):
    help = (
        "Run an engine worker: read the sightings queue (Redis Streams), locate, commit, acknowledge. "
        "Start several; each owns its share of the shards, and takes over the shards of a worker that dies."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-shards", type=int, default=None, help="own at most this many shards")
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long (benchmarks, tests)")
        parser.add_argument("--until-idle", action="store_true", help="stop once the queue is empty")
        parser.add_argument("--read-count", type=int, default=500, help="entries per read")
        parser.add_argument("--name", default=None, help="consumer name (default: host-pid-random)")
        parser.add_argument("--stats-json", default=None, help="write the worker's counters here on exit")
        parser.add_argument("--record-latency", action="store_true", help="measure ts -> commit (benchmarks)")
        parser.add_argument("--profile", default=None, help="cProfile the worker into this pstats file")

    def handle(self, *args, **options):
        queue = build_queue()
        if queue.backend != "redis":
            raise CommandError(
                "run_engine needs the Redis Streams queue (set REDIS_URL or INGEST_REDIS_URL); without it the web "
                "and ingest_mqtt processes run the engine in-process"
            )
        worker = EngineWorker(
            queue,
            pipeline_factory=live_pipeline,
            name=options["name"],
            read_count=options["read_count"],
            max_shards=options["max_shards"],
            record_latency=options["record_latency"],
        )

        if consumer_mode() == "in-process":
            ensure_in_process_consumer()  # otherwise: manage.py consume_location_outbox
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stderr.write(f"engine worker {worker.name}: building the site plan...")
        worker.start()
        self.stderr.write(f"engine worker {worker.name}: ready, {queue.shards} shards under {queue.prefix}")
        profiler = None
        if options["profile"]:
            profiler = cProfile.Profile()
            profiler.enable()
        try:
            if options["until_idle"]:
                worker.run_until_idle(timeout_s=options["seconds"] or 3600)
                worker.stop()
            else:
                worker.run(stop=stop, max_seconds=options["seconds"])
        finally:
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(options["profile"])
            stats = worker.stats.as_dict()
            if options["stats_json"]:
                with open(options["stats_json"], "w") as handle:
                    json.dump(stats, handle)
            summary = {k: v for k, v in stats.items() if k != "latencies"}
            summary["dropped"] = worker.stats.dropped
            self.stderr.write(f"engine worker {worker.name} stopped: {summary}")
