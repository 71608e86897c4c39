"""The engine's tunables, with defaults that suit a BLE deployment in a hospital ward.

docs/location-engine.md explains what each group does and why the defaults are what they are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineConfig:
    # --- Event-time windows -------------------------------------------------------------
    # Copies of one transmission heard by several receivers carry nearly the same ts: a window
    # collects a tag's sightings while each is within `window_gap_s` of the previous one, and
    # never spans more than `window_max_s` (tags ping every ~1-5 s, so one window = one ping).
    window_gap_s: float = 0.5
    window_max_s: float = 1.0
    # When a window closes (docs/location-engine.md, "Time model"): once the event-time frontier (the
    # third most advanced gateway's corrected clock) is past its end by the wait its receivers need. That
    # wait is learnt per gateway (how far behind the frontier its batches arrive), taken over the
    # receivers that could have heard the tag, and kept within min_lateness_s..allowed_lateness_s.
    # A sighting whose tag's window at that time has closed is dropped and counted (stats.late).
    allowed_lateness_s: float = 12.0
    min_lateness_s: float = 0.25
    initial_lateness_s: float = 2.0  # a gateway's wait before anything is learnt about it
    flush_granularity_s: float = 0.25  # a flush closes windows only once the first is due by this much
    # A gateway's learnt lateness: the lateness_quantile (1: the largest) of how far behind the frontier its last
    # lateness_history batches arrived (a rare spike is not waited for long; a habit is).
    lateness_history: int = 64
    lateness_quantile: float = 1.0
    # The receivers a window waits for: those expected at least wait_hear_margin_db above sensitivity_dbm
    # in the likely rooms of its loud receivers (heard within wait_anchor_margin_db of its loudest); a
    # receiver's likely rooms are its candidates it hears within wait_room_margin_db of its loudest.
    # A window also closes as soon as every receiver it waits for has delivered a sighting stamped after its
    # end, when that receiver delivers in order: the largest step back behind its own newest sighting that
    # one of its last lateness_history batches took is its reorder depth, and its progress is its newest
    # sighting less that depth. A gateway that flushes every second then costs about a second of waiting,
    # not its worst lateness against the whole site's frontier. One that reorders waits on the time rule.
    close_on_progress: bool = True
    # Progress is followed per gateway and delivery stream: the ingest queue splits a gateway's batch into
    # one entry per tag shard (INGEST_SHARDS), each shard's entries stay in order, but a worker may push one
    # shard's part of a batch before another's, and a worker that takes shards over reads them in another
    # interleaving. Per (gateway, shard) the order is the queue's, whoever reads it, so an uninterrupted
    # worker and one that took over decide alike (the fault test "killing a worker mid-stream"; with one
    # stream per gateway it differed by a window in 4 of 5 runs). The pipeline sets it to INGEST_SHARDS;
    # a tag's stream is declarations.tag_ids.shard_of(tag, delivery_streams).
    delivery_streams: int = 1
    # ... past its last sighting by this much (the copies of one ping are stamped within milliseconds of
    # each other once the clocks are corrected; a tag pings at most about once a second)
    progress_margin_s: float = 0.1
    wait_hear_margin_db: float = -5.0
    wait_room_margin_db: float = 15.0
    wait_anchor_margin_db: float = 15.0
    # A sighting stamped more than this ahead of the frontier is counted (stats.future). It cannot move
    # the frontier (the 3rd most advanced gateway) nor anyone else's windows, only its own tag's.
    max_ahead_s: float = 5.0
    # When the frontier has not moved for this long on the caller's clock (flush(now)), the site is
    # quiet: the frontier is carried forward with the caller's clock, so the last windows close.
    idle_after_s: float = 2.0
    # A receiver silent for this long of event time is dark: not hearing a tag then is no evidence.
    dark_after_s: float = 20.0
    # How long after its window closed a (gateway, tag, ts) key is still recognised as a
    # duplicate (a batch delivered twice) rather than counted as late.
    duplicate_memory_s: float = 30.0

    # --- Gateway clocks (locations/engine/clock.py) ------------------------------------------
    clock_estimation: bool = True
    clock_first_update_s: float = 55.0  # event time after the first sighting before the first estimate
    # An engine without offsets (a first start, a replay from scratch; a restart resumes them) closes no window
    # before its first estimate, which then corrects the sightings before it too. Decided on timestamps as they
    # are, the copies of one ping from gateways seconds apart fall into several windows. The hold ends early only
    # when the site is quiet (nothing arriving), not when late batches stall the frontier: that early end made
    # the first estimate from the first seconds of traffic (docs/benchmarks.md, "The first minute held, measured
    # again"). Lab combined 98.44 -> 99.52 % settled, 1.33 -> 0.80 shown per true change with it.
    clock_hold_first: bool = True
    clock_update_s: float = 60.0  # re-estimated every this much event time (20 ppm of drift is 1.2 ms) ...
    clock_window_s: float = 60.0  # ... from the sightings of this last stretch
    clock_search_s: float = 5.0  # differences searched before a gateway is locked (+-2.5 s clocks)
    clock_track_s: float = 0.25  # ... and afterwards, around the current estimate
    clock_peak_s: float = 0.03  # copies of one ping agree within tens of ms (stamping jitter) ...
    clock_sharp_s: float = 0.002  # ... and mostly within a few ms (an alias is spread by advertising jitter)
    clock_min_pairs: int = 8  # matched copies needed to estimate a pair of gateways
    clock_outlier_s: float = 0.05  # pair estimates this far off the joint solution are dropped
    clock_deadband_s: float = 0.05  # smaller offsets are reported but not applied (a window gap is 0.5 s)
    clock_max_tags: int = 150  # the estimator follows at most about this many tags (a stable sample)
    clock_wide_tags: int = 50  # a wide search uses a rotating subset of about this many tags
    clock_track_sightings: int = 20_000  # tracking uses a rotating subset of tags of about this many sightings (0: all)
    clock_research_every: int = 15  # every N-th update searches wide again (catches a jump)

    # --- Receiver calibration, learnt online ---------------------------------------------------
    # A receiver consistently hotter or colder than its rssi_at_1m: its mean residual (readings well
    # above sensitivity, in confidently placed windows, against the tag's gain fitted from the window's
    # other receivers), shrunk by calibration_prior_n readings. On by default: with receivers a few dB
    # off their datasheet (the usual case) and one receiver per few rooms it is worth ~3 points of
    # settled accuracy (docs/benchmarks.md, issue 11). A restarted engine relearns it in minutes.
    calibration: bool = True
    calibration_prior_n: float = 10.0
    calibration_min_tags: int = 3  # a receiver is calibrated once readings of this many tags are behind it
    calibration_max_db: float = 10.0
    calibration_every_s: float = 60.0  # event-time epochs; a window uses what was learnt 2 epochs before
    calibration_min_confidence: float = 0.6
    calibration_margin_db: float = 6.0  # only readings expected this far above sensitivity
    # A gateway that forwards only readings at or above a filter (commonly -85..-90 dBm) never reports a
    # quieter one, so its silence about a tag expected at -92 dBm says nothing. Each receiver's floor is
    # learnt from the rssi it reported in the last detection_floor_epochs calibration epochs (up to the
    # epoch before last, as the calibration): a sharp cut above sensitivity_dbm, from at least
    # floor_min_readings readings, becomes its sensitivity in the miss model and the waits. On the live
    # world of issue 12 (a -88 dBm filter): rooms right 30 s into a stay 96.9 -> 98.8 % (docs/benchmarks.md).
    detection_floor: bool = True
    detection_floor_epochs: int = 10
    floor_min_readings: int = 400
    # --- The site's radio, learnt online (locations/engine/radiofit.py) ---------------------------
    # How much the path-loss exponent (of receivers without their own) and the loss per wall differ from
    # the values below. The confidently placed windows of about radio_fit_tags tags are scored by the
    # engine's likelihood, once per calibration epoch, from at least radio_fit_min_windows windows: first
    # on a wide grid around the configured model, then on the current model's 8 neighbours (0.1 in the
    # exponent, 0.5 dB per wall). A candidate better by radio_fit_min_gain nats becomes the model, within
    # +-radio_fit_max_exponent and 1 dB to wall_loss_db + radio_fit_max_wall_db per wall.
    # docs/location-engine.md ("Method", 6).
    radio_fit: bool = True
    radio_fit_tags: int = 40
    # 200 (was 500): with pings every 5-10 s, a quarter of them lost and one receiver per three rooms, the
    # windows of 40 tags heard by two receivers or more fall short of 500 in three epochs, and the fit never ran
    # there, where it matters most (walls_sparse 89.9 -> 92.6 %; docs/benchmarks.md, twelfth session).
    radio_fit_min_windows: int = 200
    radio_fit_max_windows: int = 800  # scored per step at most (evenly spread): bounds its cost
    radio_fit_min_gain: float = 2.0
    radio_fit_max_exponent: float = 0.8
    radio_fit_max_wall_db: float = 8.0

    # --- Signal model: rssi = rssi_at_1m - 10 n log10(d) - walls - floors ----------------------
    path_loss_exponent: float = 2.2  # used when a receiver has none of its own
    wall_loss_db: float = 4.0  # per wall between the tag and the receiver
    floor_loss_db: float = 17.0  # per floor slab between them
    # A signal from another floor crosses the slab near one end: about half of the plan walls
    # between the two (x, y) positions lie on its path.
    cross_floor_wall_factor: float = 0.5
    floor_height_m: float = 4.0
    tag_height_m: float = 1.0  # used with a receiver's height_m; without one, distances are planar
    min_distance_m: float = 1.0  # the log-distance model holds from 1 m out
    max_floor_span: int = 1  # receivers more floors away than this are treated as unable to hear

    # --- Likelihood -----------------------------------------------------------------------
    sigma_db: float = 5.0  # spread of rssi around the model when the tag is louder than expected
    fade_sigma_db: float = 7.5  # ... and when quieter (multipath fades only ever take power away)
    student_nu: float = 4.0  # Student-t degrees of freedom: a few wild readings cannot dominate
    sensitivity_dbm: float = -95.0  # receivers hear down to about this level
    packet_loss: float = 0.2  # chance that a receiver which should hear a ping does not report it
    # A tag's own gain (battery, mounting on metal, a body in the way) shifts all its readings
    # alike: each hypothesis fits an offset with this prior spread (0 disables), within +-range.
    offset_prior_db: float = 4.0
    offset_range_db: float = 12.0
    max_receivers_per_window: int = 10  # the strongest N of a window are used
    # How much one window's log-likelihood counts: readings of a still tag are correlated, so each
    # counts for less. With evidence_correlation_s > 0 the weight is likelihood_temper x
    # (1 - exp(-dt / evidence_correlation_s)), dt the time since the tag's previous window: a window 2 s
    # after the last one repeats most of its shadowing, one 10 s later is nearly all news (with 5 s and
    # likelihood_temper 1: B shows 1.3 x the true changes instead of 1.7, but a worker rebuilt after a
    # database failure then decides a few moves one window apart from an uninterrupted run, so it is off).
    likelihood_temper: float = 0.6
    evidence_correlation_s: float = 0.0
    # The nats one window can hold against a room (after weighting) for pings evidence_reference_s apart,
    # sqrt(dt / evidence_reference_s) times more (at most 2x) for slower ones. With max_reading_evidence
    # > 0 instead: that many per receiver heard, at most max_window_evidence (one freak reading cannot
    # move a still tag, several receivers agreeing can, at once; 2 and 16 for prompt switching). Off by
    # default: with a gateway whose clock is estimated one ping off (an alias) it doubled the shown changes.
    max_window_evidence: float = 4.0
    evidence_reference_s: float = 2.0
    max_reading_evidence: float = 0.0

    # Candidate rooms for a window: those where its loudest receiver would hear the tag at least
    # (its rssi - candidate_margin_db), at least min and at most max of them, plus the rooms the
    # tag was last believed in (always evaluated, so a still tag is judged on its own room).
    candidate_margin_db: float = 14.0
    min_candidate_rooms: int = 3
    max_candidate_rooms: int = 24
    # When a receiver on another floor is heard within this of the loudest one, its rooms (up to
    # max_other_floor_rooms) are candidates too: the floor decision then weighs both floors.
    other_floor_margin_db: float = 15.0
    max_other_floor_rooms: int = 12
    sample_area_m2: float = 5.0  # one sample point per this much room area ...
    max_samples_per_room: int = 8  # ... up to this many
    raster_m: float = 0.2  # wall counting resolution at plan build
    max_range_m: float = 45.0  # receiver-sample pairs farther apart are never heard

    # --- Smoothing over time (HMM forward filter over rooms) ---------------------------------
    # Rates per second of event time; a ping 2 s after the last one gets 2x the move probability.
    move_rate_adjacent: float = 0.0015  # into one particular room sharing a wall with the current one
    move_rate_near: float = 0.0005  # into one particular room two steps away
    move_rate_far: float = 0.0002  # into one particular room farther away (or on another floor)
    # Out of a passage (a corridor, a lobby) the move rates are this many times higher: equipment in a
    # corridor is mostly on its way somewhere (a trip crosses a corridor section in seconds), so the room
    # it enters is shown on the first convincing window. 1 = off by default: with the fixed temper it
    # makes lab B show 1.9 x the true changes (docs/location-engine.md, "Smoothing over time").
    passage_rate_factor: float = 1.0
    # Equipment on its way: for moving_window_s after the tag was shown leaving a room it had been shown in
    # for at least moving_min_stay_s (renewed while it is shown walking on from passage to passage), the
    # move rates out of a passage are moving_rate_factor times higher. Wheeled along a corridor, a pump
    # crosses a section in seconds and turns into a room: the first convincing window there shows it. A
    # pump parked in the corridor keeps the parked rates, and a flip of it into a room and back (at a door)
    # does not count as setting off, so it does not start a cascade of flips (issue 12; docs/benchmarks.md,
    # "Equipment on its way" and "Setting off"). moving_min_stay_s 0: from any change of the shown room
    # (the rule with factor 30 until 2026-12-07; with 100 and that rule, lab B showed 1.95 x the true changes).
    moving_rate_factor: float = 60.0
    moving_window_s: float = 30.0
    moving_min_stay_s: float = 20.0
    max_step_s: float = 120.0  # a tag silent for longer is treated as silent this long
    belief_size: int = 6  # rooms kept per tag between windows ...
    belief_keeps_window_best: bool = True  # ... one of them the last window's own likeliest room
    # The shown room changes only when the new one is this much likelier: 2 (was 1.5) holds the false
    # changes that the faster moves out of a passage would bring (lab B 1.62 -> 1.68 x with both, 1.86 x
    # with the moving rates alone).
    switch_ratio: float = 2.0
    full_confidence_receivers: int = 3  # fewer receivers heard than this caps the confidence

    # --- Position --------------------------------------------------------------------------
    position_iterations: int = 5
    position_prior_m: float = 4.0  # how far trilateration may pull away from the room's best point
    min_radius_m: float = 0.5
    display_inset_m: float = 0.25  # a shown position stays this far inside the room's walls

    def __post_init__(self) -> None:
        checks = {
            "window_gap_s": self.window_gap_s > 0,
            "window_max_s": self.window_max_s >= self.window_gap_s,
            "allowed_lateness_s": self.allowed_lateness_s >= self.min_lateness_s,
            "min_lateness_s": self.min_lateness_s >= 0,
            "lateness_history": self.lateness_history >= 1,
            "lateness_quantile": 0.0 <= self.lateness_quantile <= 1.0,
            "max_ahead_s": self.max_ahead_s >= 0,
            "progress_margin_s": 0 <= self.progress_margin_s <= self.window_gap_s,
            "delivery_streams": 1 <= self.delivery_streams <= 4096,
            "moving_min_stay_s": self.moving_min_stay_s >= 0,
            "idle_after_s": self.idle_after_s > 0,
            "clock_search_s": self.clock_search_s > self.clock_track_s > 0,
            "clock_min_pairs": self.clock_min_pairs >= 1,
            "clock_track_sightings": self.clock_track_sightings >= 0,
            "duplicate_memory_s": self.duplicate_memory_s >= 0,
            "path_loss_exponent": self.path_loss_exponent > 0,
            "sigma_db": self.sigma_db > 0,
            "fade_sigma_db": self.fade_sigma_db > 0,
            "student_nu": self.student_nu > 0,
            "packet_loss": 0 < self.packet_loss < 1,
            "max_receivers_per_window": self.max_receivers_per_window >= 1,
            "likelihood_temper": 0 < self.likelihood_temper <= 1,
            "max_window_evidence": self.max_window_evidence > 0,
            "max_reading_evidence": self.max_reading_evidence >= 0,
            "evidence_correlation_s": self.evidence_correlation_s >= 0,
            "passage_rate_factor": self.passage_rate_factor >= 1,
            "moving_rate_factor": self.moving_rate_factor >= 1,
            "moving_window_s": self.moving_window_s >= 0,
            "min_candidate_rooms": self.min_candidate_rooms >= 1,
            "max_candidate_rooms": self.max_candidate_rooms >= self.min_candidate_rooms,
            "max_samples_per_room": self.max_samples_per_room >= 1,
            "sample_area_m2": self.sample_area_m2 > 0,
            "raster_m": self.raster_m > 0,
            "belief_size": self.belief_size >= 1,
            "switch_ratio": self.switch_ratio >= 1,
            "full_confidence_receivers": self.full_confidence_receivers >= 1,
            "max_floor_span": self.max_floor_span >= 0,
            "radio_fit_tags": self.radio_fit_tags >= 1,
            "detection_floor_epochs": self.detection_floor_epochs >= 1,
            "floor_min_readings": self.floor_min_readings >= 1,
            "radio_fit_min_windows": self.radio_fit_min_windows >= 1,
            "radio_fit_max_windows": self.radio_fit_max_windows >= 1,
            "radio_fit_min_gain": self.radio_fit_min_gain >= 0,
            "radio_fit_max_exponent": self.radio_fit_max_exponent >= 0,
            "radio_fit_max_wall_db": self.radio_fit_max_wall_db >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"EngineConfig: invalid value for {', '.join(bad)}")
