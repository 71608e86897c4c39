"""What the engine learnt about the receivers outlives the worker (real PostgreSQL): the pipeline stores it on
the receiver rows and the next engine starts from it (LocationPipeline._build, LocationEngine.resume_learnt).
The site's radio (the path-loss exponent and loss per wall the engine learnt) is stored on the site's row.
A learnt calibration is a correction of the rssi_at_1m it was learnt against, so it is dropped when that
value changes, and never written back over the new one by an engine built before the change."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from locations.engine.engine import GatewayClock
from locations.ingest.queue import InMemoryQueue
from locations.ingest.worker import EngineWorker
from locations.models import Receiver, Site
from locations.pipeline import LocationPipeline
from locations.services import receivers_store_engine_estimates
from tests.locations.sim_hospital import make_ward


def clock(gateway_id: str, calibration_db: float, floor_dbm: float | None = None) -> GatewayClock:
    return GatewayClock(
        gateway_id=gateway_id,
        offset_s=0.0,
        pairs=0,
        estimated=False,
        watermark=None,
        lateness_s=0.0,
        dark=False,
        calibration_db=calibration_db,
        floor_dbm=floor_dbm,
    )


def test_a_restarted_worker_starts_from_the_stored_calibrations_and_floors(db):
    ward = make_ward()
    hot, filtered = ward.receivers["A"], ward.receivers["B"]
    Receiver.objects.filter(pk=hot.pk).update(calibration_db=3.5)
    Receiver.objects.filter(pk=filtered.pk).update(detection_floor_dbm=-88.0)
    clocks = LocationPipeline(notify=False).engine.gateway_clocks()
    assert clocks[hot.gateway_id].calibration_db == 3.5
    assert clocks[filtered.gateway_id].floor_dbm == -88.0
    others = [c for g, c in clocks.items() if g not in (hot.gateway_id, filtered.gateway_id)]
    assert others and all(c.calibration_db == 0.0 and c.floor_dbm is None for c in others)


def test_entering_a_receivers_measured_rssi_at_1m_drops_its_learnt_calibration(db):
    ward = make_ward()
    receiver = Receiver.objects.get(pk=ward.receivers["A"].pk)
    Receiver.objects.filter(pk=receiver.pk).update(calibration_db=3.5, detection_floor_dbm=-88.0)
    receiver.refresh_from_db()
    receiver.x += 0.5  # moved a little: the receiver's own offset stays
    receiver.save()
    receiver.refresh_from_db()
    assert receiver.calibration_db == 3.5
    receiver.rssi_at_1m += 3.5  # what the engine had found, now entered by hand
    receiver.save(update_fields=["rssi_at_1m"])
    receiver.refresh_from_db()
    assert receiver.calibration_db is None and receiver.detection_floor_dbm == -88.0
    assert LocationPipeline(notify=False).engine.gateway_clocks()[receiver.gateway_id].calibration_db == 0.0


def test_an_engine_built_before_the_change_does_not_write_its_calibration_back(db):
    ward = make_ward()
    receiver = ward.receivers["A"]
    built_with = {receiver.gateway_id: receiver.rssi_at_1m}
    Receiver.objects.filter(pk=receiver.pk).update(rssi_at_1m=receiver.rssi_at_1m + 3.5)
    now = datetime.now(UTC)
    receivers_store_engine_estimates(
        {receiver.gateway_id: clock(receiver.gateway_id, 3.5)}, now=now, rssi_at_1m=built_with
    )
    assert Receiver.objects.get(pk=receiver.pk).calibration_db is None
    built_with = {receiver.gateway_id: receiver.rssi_at_1m + 3.5}  # the next engine, built with the new value
    receivers_store_engine_estimates(
        {receiver.gateway_id: clock(receiver.gateway_id, 0.8)}, now=now, rssi_at_1m=built_with
    )
    assert Receiver.objects.get(pk=receiver.pk).calibration_db == 0.8


def test_an_engine_worker_resumes_when_it_starts_and_relearns_when_it_rebuilds_to_replay(db):
    """A rebuild after a database failure or a takeover replays the unacknowledged entries: they must be decided
    as the uninterrupted run decided them (the fault tests), not with what was learnt since."""
    ward = make_ward()
    hot = ward.receivers["A"]
    Receiver.objects.filter(pk=hot.pk).update(calibration_db=3.5)
    worker = EngineWorker(InMemoryQueue(shards=2), pipeline_factory=LocationPipeline, name="restarted")
    worker.start()
    assert worker.pipeline.engine.gateway_clocks()[hot.gateway_id].calibration_db == 3.5
    worker._rebuild_and_replay(reason="database error")
    assert worker.pipeline.engine.gateway_clocks()[hot.gateway_id].calibration_db == 0.0
    worker.stop()


def test_the_sites_radio_is_stored_on_its_row_and_a_restarted_worker_starts_from_it(db):
    make_ward()
    site = Site.objects.get()
    assert (site.radio_path_loss_exponent, site.radio_wall_loss_db) == (None, None)
    first = LocationPipeline(notify=False)
    assert first.engine.radio_fit == (2.2, 4.0)  # the configured model
    first.engine.resume_learnt(radio_fit=(2.5, 7.0))  # as if it had learnt it from its traffic
    first.process(None)
    site.refresh_from_db()
    assert (site.radio_path_loss_exponent, site.radio_wall_loss_db) == (2.5, 7.0)
    assert LocationPipeline(notify=False).engine.radio_fit == (2.5, 7.0)
    assert LocationPipeline(notify=False, resume_learnt=False).engine.radio_fit == (2.2, 4.0)


def test_a_worker_rebuilt_afresh_does_not_blank_what_was_stored_before_it_has_learnt_its_own(db):
    """A worker that rebuilt to replay (resume_learnt=False) relearns the receivers; until it has, a restart
    must still find what the engine before it stored."""
    ward = make_ward()
    hot, filtered = ward.receivers["A"], ward.receivers["B"]
    Receiver.objects.filter(pk=hot.pk).update(calibration_db=3.5)
    Receiver.objects.filter(pk=filtered.pk).update(detection_floor_dbm=-88.0)
    rebuilt = LocationPipeline(notify=False, resume_learnt=False)
    rebuilt.engine.stats.clock_updates += 1  # it has estimated a gateway's clock, so it stores its estimates
    rebuilt.process(None)
    assert Receiver.objects.get(pk=hot.pk).calibration_db == 3.5
    assert Receiver.objects.get(pk=filtered.pk).detection_floor_dbm == -88.0
    # Once it has learnt a calibration of its own, that is what it stores.
    rebuilt.engine.stats.calibration_updates += 1
    rebuilt.process(None)
    assert Receiver.objects.get(pk=hot.pk).calibration_db == 0.0
    assert Receiver.objects.get(pk=filtered.pk).detection_floor_dbm == -88.0


def test_a_restarted_worker_corrects_the_gateway_clocks_estimated_within_the_last_hour(db, settings):
    """The clocks drift (20 ppm is 72 ms an hour): an offset estimated longer ago than
    GATEWAY_CLOCK_RESUME_MAX_AGE_SECONDS is not resumed, and the engine estimates it afresh within a minute."""
    settings.GATEWAY_CLOCK_RESUME_MAX_AGE_SECONDS = 3600
    ward = make_ward()
    recent, old = ward.receivers["A"], ward.receivers["B"]
    now = timezone.now()
    Receiver.objects.filter(pk=recent.pk).update(clock_offset_s=1.25, clock_pairs=40, clock_estimated_at=now)
    Receiver.objects.filter(pk=old.pk).update(
        clock_offset_s=-0.8, clock_pairs=40, clock_estimated_at=now - timedelta(hours=2)
    )
    clocks = LocationPipeline(notify=False).engine.gateway_clocks()
    assert clocks[recent.gateway_id].offset_s == 1.25
    assert clocks[old.gateway_id].offset_s == 0.0
    # Resumed, not estimated by this engine: its first store leaves the rows as they are.
    assert not clocks[recent.gateway_id].estimated
    # A worker rebuilding to replay takes them too: they are the clocks the run it stands in for corrected with.
    rebuilt = LocationPipeline(notify=False, resume_learnt=False).engine.gateway_clocks()
    assert rebuilt[recent.gateway_id].offset_s == 1.25 and rebuilt[old.gateway_id].offset_s == 0.0
