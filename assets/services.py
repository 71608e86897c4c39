"""Changes to assets and tags: tag binding. (The asset CSV import, which also writes maintenance schedules and
the change history, is lifecycle/asset_import.py.)"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from assets.models import Asset, Tag, TagBinding
from declarations.states import AssetState


class TagBindingError(Exception):
    pass


@transaction.atomic
def tag_unbind(*, tag: Tag, user=None, at=None) -> None:
    """Detach a tag from its asset; the binding history keeps who and when. The tag can be reused."""
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    if tag.asset_id is None:
        return
    TagBinding.objects.filter(tag=tag, unbound_at__isnull=True).update(unbound_at=at or timezone.now(), unbound_by=user)
    tag.asset = None
    tag.save(update_fields=["asset"])


@transaction.atomic
def tag_bind(*, tag: Tag, asset: Asset, user=None, at=None) -> None:
    """Put a tag on an asset. The asset's previous tag, if any, is unbound first.

    Refused when the tag is on another asset: unbind it there first, deliberately.
    """
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    if tag.asset_id == asset.pk:
        return
    state = Asset.objects.filter(pk=asset.pk).values_list("state", flat=True).first()
    if state == AssetState.DECOMMISSIONED:
        raise TagBindingError(f"asset {asset} is decommissioned: no tag may be bound to it")
    if tag.asset_id is not None:
        raise TagBindingError(f"tag {tag} is bound to asset {tag.asset}; unbind it there first")
    previous = Tag.objects.filter(asset=asset).first()
    if previous is not None:
        tag_unbind(tag=previous, user=user, at=at)
    tag.asset = asset
    tag.save(update_fields=["asset"])
    TagBinding.objects.create(tag=tag, asset=asset, bound_at=at or timezone.now(), bound_by=user)
