"""Location status: the three keys and labels (located / stale / missing), declared once.

Separate from the lifecycle state. What each means in time (the freshness windows, the exit rooms) is
computed from ``last_seen`` by ``locations/freshness.py``; this module only names the statuses, so any
layer may use them without importing the domain.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class LocationStatus(models.TextChoices):
    LOCATED = "located", _("Located")
    STALE = "stale", _("Stale")
    MISSING = "missing", _("Missing")
