"""Setup helpers shared by the alert tests."""

from datetime import timedelta

from assets.models import Asset
from tests.factories import AssetFactory, TagFactory


def set_state(asset: Asset, state: str) -> Asset:
    """Put an asset in a lifecycle state for a test's setup (the FSM field is protected)."""
    Asset.objects.filter(pk=asset.pk).update(state=state)
    return Asset.objects.get(pk=asset.pk)


def tracked_asset(*, room, seen, asset_type=None, state=None, tagged=True, **kwargs) -> Asset:
    """An asset wearing a tag, last seen at ``seen`` in ``room``, as the location engine leaves it."""
    extra = {"asset_type": asset_type} if asset_type else {}
    asset = AssetFactory(current_room=room, last_seen=seen, located_at=seen if seen else None, **extra, **kwargs)
    if tagged:
        TagFactory(asset=asset, last_seen=seen)
    if state:
        asset = set_state(asset, state)
    return asset


def ago(now, *, minutes: float = 0, hours: float = 0):
    return now - timedelta(minutes=minutes, hours=hours)
