"""Simulate BLE tags on the equipment of whatever hospital is in the database.

--live feeds the in-process location pipeline in real time (the demo map moves); --out writes
gateway batch bodies to a JSONL file (for replay_sightings) and the ground truth to another file.
"""

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from assets.models import Tag
from declarations.tag_ids import format_tag_id
from locations.outbox import ensure_in_process_consumer
from locations.pipeline import LocationPipeline, site_plan_from_db
from locations.simulator import MotionModel, RadioModel, SimTag, Simulator, format_ts, gateway_bodies


def _parse_start(value: str) -> float:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"--start {value!r} is not an ISO 8601 time, e.g. 2026-11-22T08:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Command(BaseCommand):
    help = (
        "Simulate the RTLS of the hospital in the database: every tag bound to an asset pings every ~2 s; "
        "most equipment rests for minutes to hours, some is wheeled room to room along the corridors; the "
        "receivers hear it through walls and floors with shadowing, multipath fades and packet loss. "
        "--live runs in real time into the location pipeline in this process (Ctrl-C stops it); "
        "--out FILE --truth FILE --duration S writes one gateway body per gateway per second, and the true "
        "room changes separately (the engine never reads them)."
    )

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--live", action="store_true", help="feed the pipeline in real time")
        mode.add_argument("--out", metavar="FILE", help="write gateway batch bodies (JSONL) here")
        parser.add_argument("--truth", metavar="FILE", help="with --out: write the true room changes (JSONL) here")
        parser.add_argument("--duration", type=float, metavar="SECONDS", help="how long to simulate (--live: forever)")
        parser.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same file")
        parser.add_argument("--start", help="with --out: simulated start time, ISO 8601 (default: now)")
        parser.add_argument("--sigma", type=float, default=4.0, metavar="DB", help="shadowing sigma, dB (default 4)")
        parser.add_argument("--ping-interval", type=float, default=2.0, metavar="SECONDS", help="default 2")
        parser.add_argument("--packet-loss", type=float, default=0.10, help="per receiver and ping (default 0.1)")
        parser.add_argument("--mobile-share", type=float, default=0.2, help="share of assets moved often (0.2)")
        parser.add_argument(
            "--speed",
            type=float,
            default=1.0,
            help="--live: rests are this many times shorter, so equipment moves more often (clock stays real)",
        )
        parser.add_argument("--assets", type=int, metavar="N", help="simulate only the first N tagged assets")

    def handle(self, *args, **options):
        self._check(options)
        plan = site_plan_from_db()
        if not plan.rooms or not plan.receivers:
            raise CommandError("The database has no rooms or no active receivers: import a floor plan first.")
        rows = list(
            Tag.objects.filter(asset__isnull=False)
            .order_by("tag_id")
            .values_list("tag_id", "asset__asset_tag", "asset__current_room_id")
        )
        if options["assets"] is not None:
            rows = rows[: options["assets"]]
        if not rows:
            raise CommandError("No tag is bound to an asset: import assets with their tag ids first.")
        self.asset_tags = {tag_id: asset_tag for tag_id, asset_tag, _ in rows}
        tags = [SimTag(tag_id=tag_id, start_room_id=room_id) for tag_id, _, room_id in rows]
        radio = RadioModel(shadowing_sigma_db=options["sigma"], packet_loss=options["packet_loss"])
        motion = MotionModel(ping_interval_s=options["ping_interval"], mobile_share=options["mobile_share"])
        if options["live"]:
            self._live(plan, tags, radio, motion.busier(options["speed"]), options)
        else:
            self._to_file(plan, tags, radio, motion, options)

    def _check(self, options):
        if options["out"]:
            if not options["truth"]:
                raise CommandError("--out needs --truth FILE for the ground truth")
            if not options["duration"]:
                raise CommandError("--out needs --duration SECONDS")
        elif options["truth"]:
            raise CommandError("--truth goes with --out")
        if options["duration"] is not None and options["duration"] <= 0:
            raise CommandError("--duration must be more than 0 seconds")
        if options["sigma"] < 0:
            raise CommandError("--sigma must be 0 dB or more")
        if not 0 < options["ping_interval"] <= 60:
            raise CommandError("--ping-interval must be between 0 and 60 seconds")
        if not 0 <= options["packet_loss"] < 1:
            raise CommandError("--packet-loss must be between 0 and 1")
        if not 0 <= options["mobile_share"] <= 1:
            raise CommandError("--mobile-share must be between 0 and 1")
        if options["speed"] <= 0:
            raise CommandError("--speed must be more than 0")
        if options["assets"] is not None and options["assets"] < 1:
            raise CommandError("--assets must be at least 1")

    def _truth_line(self, change) -> str:
        return json.dumps(
            {
                "tag": change.tag_id,
                "asset_tag": self.asset_tags.get(change.tag_id),
                "ts": format_ts(change.ts),
                "room": change.room_code or None,  # null: the asset left the site
            }
        )

    def _to_file(self, plan, tags, radio, motion, options):
        start = _parse_start(options["start"]) if options["start"] else float(int(time.time()))
        sim = Simulator(plan, tags, start_ts=start, seed=options["seed"], radio=radio, motion=motion)
        seconds = int(options["duration"])
        out_path, truth_path = Path(options["out"]), Path(options["truth"])
        for path in (out_path, truth_path):
            if not path.parent.is_dir():
                raise CommandError(f"{path}: the directory {path.parent} does not exist")
        bodies = sightings = 0
        report_every = max(60, seconds // 10)
        with out_path.open("w", encoding="utf-8") as out, truth_path.open("w", encoding="utf-8") as truth:
            for second in range(seconds):
                transmissions = sim.advance(1.0)
                for body in gateway_bodies(
                    transmissions, sent_at=sim.now + radio.gateway_send_delay_s, tag_format=format_tag_id
                ):
                    out.write(json.dumps(body, separators=(",", ":")) + "\n")
                    bodies += 1
                    sightings += len(body["sightings"])
                for change in sim.drain_truth():
                    truth.write(self._truth_line(change) + "\n")
                if (second + 1) % report_every == 0:
                    self.stderr.write(f"  {second + 1:,} of {seconds:,} s simulated, {sightings:,} sightings")
        self.stdout.write(
            f"{len(tags):,} tags for {seconds:,} s from {format_ts(start)}: {bodies:,} gateway batches, "
            f"{sightings:,} sightings -> {out_path}; true room changes -> {truth_path}"
        )

    def _live(self, plan, tags, radio, motion, options):
        ensure_in_process_consumer()  # the embedded default: rules, alerts and webhooks in this process
        pipeline = LocationPipeline()
        sim = Simulator(plan, tags, start_ts=time.time(), seed=options["seed"], radio=radio, motion=motion)
        until = sim.now + options["duration"] if options["duration"] else None
        self.stdout.write(
            f"Simulating {len(tags):,} tags over {len(plan.receivers):,} receivers in real time (Ctrl-C stops)."
        )
        sightings = changes = 0
        last_report, last_warning = time.monotonic(), float("-inf")
        try:
            while until is None or sim.now < until:
                transmissions = sim.advance(1.0)
                sim.drain_truth()  # nobody reads the truth live: keep memory flat
                wait = sim.now + radio.gateway_send_delay_s - time.time()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -5 and time.monotonic() - last_warning >= 30:
                    self.stderr.write(f"falling behind real time by {-wait:.0f} s (catching up)")
                    last_warning = time.monotonic()
                now = time.time()
                for body in gateway_bodies(transmissions, sent_at=now, tag_format=format_tag_id):
                    result = pipeline.ingest_batch(body, now=now)
                    sightings += result.accepted
                # Validated once by ingest_batch above; the wall clock closes the windows (prompt tails).
                changes += len(pipeline.process_idle(now).room_changes)
                if time.monotonic() - last_report >= 30:
                    self.stdout.write(f"  {sightings:,} sightings, {changes:,} room changes so far")
                    last_report = time.monotonic()
        except KeyboardInterrupt:
            self.stdout.write("stopping")
        changes += len(pipeline.process(None).room_changes)
        self.stdout.write(f"{sightings:,} sightings, {changes:,} room changes")
