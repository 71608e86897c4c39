"""Template filters for the certificate, whose times are stored as ISO 8601 strings (the hashed content)."""

import datetime as dt

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def iso_time(value: str | None) -> str:
    """'2026-11-22T02:24:12.620994+00:00' -> '2026-11-22 02:24:12 UTC' in the site's time zone."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
