"""Loans: off-site custody is not a lifecycle state, silences missing/left-site while sanctioned, and raises
its own alert when the return is overdue."""

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from freezegun import freeze_time

from assets.models import Asset
from declarations.states import AssetState
from declarations.tag_ids import format_tag_id
from floormap.payloads import asset_payload
from floormap.selectors import floor_map_assets
from lifecycle.alerts.choices import AlertKind
from lifecycle.alerts.models import Alert
from lifecycle.alerts.services import alerts_check_all
from lifecycle.biomed.models import Loan
from lifecycle.biomed.services import LoanError, loan_extend, loan_return, loan_start
from locations.pipeline import site_plan_from_db
from locations.simulator import MotionModel, SimTag, Simulator, gateway_bodies
from tests.api.conftest import client_for
from tests.lifecycle.helpers import located_asset
from tests.locations.sim_hospital import T0, make_ward, tagged_asset

pytestmark = pytest.mark.django_db

TAG_ID = "c3000000010a"
START = datetime.fromtimestamp(T0, tz=UTC)


def test_a_loan_keeps_the_state_and_is_validated(dispatcher):
    asset = located_asset(state=AssetState.IN_USE)
    until = START + timedelta(days=7)
    with pytest.raises(LoanError, match="needs the borrower"):
        loan_start(asset=asset, kind="patient_home", borrower=" ", expected_return=until, user=dispatcher, at=START)
    with pytest.raises(LoanError, match="unknown loan kind 'holiday'"):
        loan_start(asset=asset, kind="holiday", borrower="x", expected_return=until, user=dispatcher, at=START)
    with pytest.raises(LoanError, match="after the start"):
        loan_start(asset=asset, kind="patient_home", borrower="x", expected_return=START, user=dispatcher, at=START)
    loan = loan_start(
        asset=asset,
        kind="patient_home",
        borrower="MRN 0042, home care",
        expected_return=until,
        user=dispatcher,
        at=START,
    )
    assert Asset.objects.get(pk=asset.pk).state == AssetState.IN_USE
    assert loan.status_text.startswith("on loan (patient home, MRN 0042, home care) until ")
    with pytest.raises(LoanError, match="already on loan"):
        loan_start(asset=asset, kind="other_site", borrower="y", expected_return=until, user=dispatcher, at=START)
    loan_extend(loan=loan, user=dispatcher, expected_return=until + timedelta(days=3))
    returned = loan_return(loan=loan, user=dispatcher, at=START + timedelta(days=2))
    with pytest.raises(LoanError, match="already returned"):
        loan_return(loan=returned, user=dispatcher)


def record_exit_then_silence(path, ward):
    """A tag resting in room A, wheeled out through the exit after a minute; the file ends a few minutes later
    (the device is off site: no more sightings)."""
    plan = site_plan_from_db()
    tag = SimTag(TAG_ID, start_room_id=ward.rooms["A"].pk, itinerary=((60.0, ward.rooms["EXIT"].pk),))
    # off_site_share=0: it keeps pinging from the exit room until the file ends, then the silence is the file's end.
    motion = MotionModel(mobile_rest_median_s=40.0, mobile_rest_bounds_s=(10.0, 120.0), off_site_share=0.0)
    sim = Simulator(plan, [tag], start_ts=T0, seed=3, motion=motion)
    with path.open("w") as out:
        for _ in range(400):
            for body in gateway_bodies(sim.advance(1.0), sent_at=sim.now + 0.2, tag_format=format_tag_id):
                out.write(json.dumps(body) + "\n")


@pytest.mark.parametrize("lent", [True, False])
def test_a_loaned_device_replayed_through_the_exit_and_silence_raises_nothing_until_its_return_date(
    tmp_path, dispatcher, lent
):
    ward = make_ward()
    pump, _ = tagged_asset(TAG_ID, asset_tag="IP-00001")
    if lent:
        loan_start(
            asset=pump,
            kind="patient_home",
            borrower="MRN 0042",
            expected_return=START + timedelta(days=3),
            user=dispatcher,
            at=START,
        )
    path = tmp_path / "sightings.jsonl"
    record_exit_then_silence(path, ward)
    call_command("replay_sightings", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    pump.refresh_from_db()
    assert pump.current_room.code == "EXIT"

    def kinds_at(moment):
        with freeze_time(moment):
            call_command("check_alerts", stdout=io.StringIO())
        return sorted(Alert.objects.open().filter(asset=pump).values_list("kind", flat=True))

    if not lent:  # the control: the same replay without a loan is a device that left the site
        assert kinds_at(START + timedelta(hours=1)) == [AlertKind.LEFT_SITE]
        return
    assert kinds_at(START + timedelta(hours=1)) == []
    assert kinds_at(START + timedelta(days=2)) == []  # missing for 2 days, still nothing: it is on loan
    assert kinds_at(START + timedelta(days=3) - timedelta(seconds=1)) == []
    assert kinds_at(START + timedelta(days=3, seconds=1)) == [AlertKind.LOAN_OVERDUE]
    alert = Alert.objects.open().get(asset=pump)
    assert "lent to MRN 0042 (patient home) was due back at" in alert.message
    # Returned (it comes back in): the overdue alert resolves itself.
    loan_return(loan=Loan.objects.get(asset=pump), user=dispatcher, at=START + timedelta(days=3, hours=2))
    Asset.objects.filter(pk=pump.pk).update(last_seen=START + timedelta(days=3, hours=2))
    report = alerts_check_all(now=START + timedelta(days=3, hours=2, seconds=1))
    assert [a.kind for a in report.resolved] == [AlertKind.LOAN_OVERDUE]


def test_map_and_api_say_on_loan_until(client, dispatcher):
    asset = located_asset()
    until = datetime(2031, 1, 2, 15, 30, tzinfo=UTC)
    loan_start(
        asset=asset,
        kind="rental_return",
        borrower="Acme Rentals",
        expected_return=until,
        user=dispatcher,
        rental_cost_per_day=Decimal("42.50"),
    )
    body = client_for(dispatcher).get(f"/api/v1/assets/{asset.pk}/").json()
    assert body["state"]["value"] == AssetState.AVAILABLE
    assert body["loan"]["text"].startswith("on loan (rental returned to vendor, Acme Rentals) until 2031-01-02")
    assert body["loan"]["rental_cost_per_day"] == "42.50" and body["loan"]["overdue"] is False

    [marker] = [asset_payload(a) for a in floor_map_assets(floor=asset.current_room.floor)]
    assert marker["loan"] == "on loan to Acme Rentals until 2031-01-02 15:30" and marker["svc"] is True
