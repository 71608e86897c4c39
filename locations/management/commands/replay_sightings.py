"""Replay recorded gateway batches (one JSON body per line) through the live location pipeline."""

import io
import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from locations.pipeline import (
    REPLAY_COMMIT_EVERY_S,
    LocationPipeline,
    ReaderProcess,
    ReplayReaderError,
    active_gateways,
    replay_lines,
)

MAX_BAD_LINES_SHOWN = 50


class Command(BaseCommand):
    # No system checks before a replay (they import every URL conf and API schema view: ~0.4 CPU s of the
    # start-up); ``manage.py check`` and the server's start run them. --skip-checks is then a no-op.
    requires_system_checks = []
    help = (
        "Replay a JSONL file of gateway batches (docs/design.md §5) through the same validate-once path as live "
        "ingest, on event time: each body is checked once, against its own sent_at, so old recordings replay, "
        "and the same "
        "file always gives the same history. Replaying a file the database already holds adds nothing. "
        "A malformed line is reported with its number and skipped. Prints the throughput at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSONL file, one gateway body per line ('-' reads standard input)")
        parser.add_argument(
            "--progress-every", type=int, default=10_000, metavar="N", help="report progress every N lines (stderr)"
        )
        parser.add_argument(
            "--flush-every",
            type=float,
            default=5.0,
            metavar="SECONDS",
            help="close the engine's windows and write to the database every this many seconds of event time",
        )
        parser.add_argument(
            "--commit-every",
            type=float,
            default=REPLAY_COMMIT_EVERY_S,
            metavar="SECONDS",
            help="commit the flushes of this many seconds of event time together, in one transaction with bulk "
            "statements (0: one commit per flush, as live); the history written is the same. On an error the "
            "groups before it stay committed and the one under way is rolled back whole: run the replay again",
        )
        parser.add_argument(
            "--reader",
            choices=["process", "inline"],
            default="process",
            help="decode and validate the lines in a second process, pipelined with the engine and the writes "
            "(default), or in this one; the history is the same",
        )

    def handle(
        self, *args, file, progress_every, flush_every, reader="process", commit_every=REPLAY_COMMIT_EVERY_S, **options
    ):
        if progress_every < 1:
            raise CommandError("--progress-every must be at least 1")
        if flush_every <= 0:
            raise CommandError("--flush-every must be more than 0 seconds")
        if commit_every < 0:
            raise CommandError("--commit-every must be 0 or more seconds")
        close = True
        if file == "-":
            name = "standard input"
            try:
                # A duplicate of the descriptor: a forked reader process closes its own sys.stdin. Bytes: each
                # line is decoded on its own (a line that is not UTF-8 is reported, the file goes on).
                stream = open(os.dup(sys.stdin.fileno()), "rb")  # noqa: SIM115 - closed below
            except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
                stream, close, reader = sys.stdin, False, "inline"  # not a real file (tests): read it here
        else:
            path = Path(file)
            if not path.is_file():
                raise CommandError(f"{file}: no such file")
            stream, name = path.open("rb"), str(path)
        shown = 0

        def bad_line(number, problem):
            nonlocal shown
            shown += 1
            if shown <= MAX_BAD_LINES_SHOWN:
                self.stderr.write(f"line {number}: {problem} (skipped)")
            elif shown == MAX_BAD_LINES_SHOWN + 1:
                self.stderr.write("more malformed lines: only counted from here on")

        def progress(result):
            self.stderr.write(
                f"  {result.lines:,} lines, {result.sightings:,} sightings, "
                f"{result.sightings_per_second:,.0f} sightings/s, {result.room_changes:,} room changes so far"
            )

        process = None
        try:
            if reader == "process":
                # Started first: it decodes and validates while this process builds the plan and the engine.
                process = ReaderProcess(
                    stream, known_gateways=active_gateways(), flush_every_s=flush_every, progress_every=progress_every
                )
            pipeline = LocationPipeline()
            if not pipeline.known_gateways:
                self.stderr.write("warning: no active receivers in the database; every sighting will be rejected")
            result = replay_lines(
                stream,
                pipeline=pipeline,
                flush_every_s=flush_every,
                progress=progress,
                progress_every=progress_every,
                on_bad_line=bad_line,
                reader_process=process or False,
                commit_every_s=commit_every,
            )
        except UnicodeDecodeError as exc:  # a text stream (tests' standard input); files are read as bytes
            raise CommandError(f"{name} is not UTF-8 text: {exc}") from None
        except ReplayReaderError as exc:
            raise CommandError(f"{name}: {exc}") from None
        finally:
            if process is not None:
                process.close()
            if close:
                stream.close()

        self.stdout.write(
            f"Replayed {name}: {result.lines:,} lines, {result.batches:,} batches, {result.sightings:,} sightings "
            f"in {result.seconds:.2f} s: {result.sightings_per_second:,.0f} sightings/s"
        )
        self.stdout.write(
            f"accepted {result.accepted:,}, rejected {result.rejected:,}, duplicates {result.duplicates:,}, "
            f"unknown tags {result.unknown_tags:,}, too late to place {result.late:,}"
        )
        for reason, count in sorted(result.rejection_reasons.items(), key=lambda item: -item[1]):
            self.stdout.write(f"  rejected {count:,}: {reason}")
        if result.not_bound or result.not_bound_estimates:
            # A tag is placed on the asset it was bound to at each sighting's time (TagBinding), never on the
            # asset it is on today for a time before that binding.
            self.stdout.write(
                self.style.WARNING(
                    f"not bound at that time {result.not_bound:,} sightings, {result.not_bound_estimates:,} "
                    "estimates: their tag was bound to no asset then (a recording older than the tag's binding?); "
                    "placed on none"
                )
            )
        # What the engine dropped after validation, by reason (late: its tag's window at that time was
        # already committed; duplicate: the same gateway, tag and time again), as a share of the file.
        drops = {reason: count for reason, count in result.engine_drops.items() if count}
        total = sum(drops.values())
        share = total / result.sightings if result.sightings else 0.0
        detail = ", ".join(f"{reason} {count:,}" for reason, count in sorted(drops.items()))
        self.stdout.write(
            f"dropped by the engine {total:,} ({share:.2%} of sightings)" + (f": {detail}" if detail else "")
        )
        if result.radio_fit is not None:
            exponent, wall_db = result.radio_fit
            self.stdout.write(f"the site's radio, learnt: path-loss exponent {exponent:.2f}, {wall_db:.1f} dB per wall")
        self.stdout.write(
            f"room changes {result.room_changes:,}; {result.outbox_applied:,} outbox rows applied (room-type rules, "
            "alerts, webhooks)"
        )
        if result.skipped_estimates:
            self.stdout.write(
                f"{result.skipped_estimates:,} estimates were no newer than the database's (already replayed)"
            )
        if result.bad_lines:
            self.stdout.write(self.style.WARNING(f"malformed lines skipped: {len(result.bad_lines):,}"))
