"""The outbox consumer applies rows in batches (one transaction each), exactly once, in id order; a failing
row is found, counted and holds the later rows back as when each row had its own transaction."""

import pytest
from django.utils import timezone

from lifecycle import outbox as consumer
from locations.models import LocationOutbox
from tests.locations.sim_hospital import make_ward, tagged_asset


@pytest.fixture
def rows(db):
    ward = make_ward()
    now = timezone.now()
    assets = [tagged_asset(f"c30000000{i:03x}", asset_tag=f"IP-0200{i}")[0] for i in range(7)]
    LocationOutbox.objects.bulk_create(
        LocationOutbox(created_at=now, room_changes=[[a.pk, ward.rooms["A"].pk, ward.rooms["B"].pk, now.isoformat()]])
        for a in assets
    )
    return list(LocationOutbox.objects.order_by("pk")), assets


def test_a_failing_row_in_a_batch_is_counted_and_the_rows_before_it_are_applied_once(rows, monkeypatch):
    outbox, assets = rows
    applied = []
    real = consumer.apply_room_changes

    def rules(*, changes):
        if changes[0].asset_id == assets[4].pk:
            raise ValueError("rule bug")
        applied.append(changes[0].asset_id)
        return real(changes=changes)

    monkeypatch.setattr(consumer, "apply_room_changes", rules)
    assert consumer.location_outbox_drain(batch=3) == 4  # the first batch, then row by row to the bad one
    state = {row.pk: (row.processed_at is not None, row.attempts) for row in LocationOutbox.objects.all()}
    assert [state[row.pk] for row in outbox] == [(True, 1)] * 4 + [(False, 1), (False, 0), (False, 0)]
    # The second batch was rolled back whole, then applied row by row: each effect is committed once.
    assert applied.count(assets[3].pk) == 2 and LocationOutbox.objects.get(pk=outbox[3].pk).attempts == 1

    monkeypatch.undo()
    assert consumer.location_outbox_drain(batch=3) == 3
    assert not LocationOutbox.objects.filter(processed_at__isnull=True).exists()
    assert set(LocationOutbox.objects.values_list("attempts", flat=True)) == {1, 2}
    assert consumer.location_outbox_drain() == 0
