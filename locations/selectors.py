"""Read-side queries about sites, floors and rooms."""

from django.db.models import Count

from locations.models import Site


def site_summaries():
    return Site.objects.annotate(
        building_count=Count("buildings", distinct=True),
        room_count=Count("rooms", distinct=True),
    ).order_by("code")
