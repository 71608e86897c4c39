"""Request priorities and statuses, declared once: the model, services, API, filters and admin reuse them."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RequestPriority(models.TextChoices):
    STAT = "stat", _("STAT: needed now")
    URGENT = "urgent", _("Urgent: within the hour")
    ROUTINE = "routine", _("Routine")


# Lower is served first. The open-request list sorts on this, then on age (oldest first).
PRIORITY_RANK = {RequestPriority.STAT: 0, RequestPriority.URGENT: 1, RequestPriority.ROUTINE: 2}


class RequestStatus(models.TextChoices):
    OPEN = "open", _("Open: waiting for an asset")
    ASSIGNED = "assigned", _("Assigned: an asset is reserved and on its way")
    DELIVERED = "delivered", _("Delivered: the asset is in use at the destination")
    CANCELLED = "cancelled", _("Cancelled")


# Plain strings, so that migrations holding them do not depend on the enum.
OPEN_REQUEST_STATUSES = (RequestStatus.OPEN.value, RequestStatus.ASSIGNED.value)
