"""Read-side queries about assets."""

from django.db.models import Count

from assets.models import AssetType


def asset_counts_by_type():
    return AssetType.objects.annotate(asset_count=Count("assets")).order_by("name")
