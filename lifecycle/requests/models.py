"""Equipment requests: a nurse or dispatcher asks for a type of equipment in a room; dispatch assigns
an asset (reserving it), delivers it (the asset goes in use) or cancels (the reservation is released).

The status is a django-fsm state machine: its transitions and who may run them are declared in the
policy table (``declarations.policy.REQUEST_TRANSITIONS``); the methods below only record who and when.
Every change goes through lifecycle.requests.services, which locks the request row, then the asset row
(through the lifecycle transitions), so two dispatchers never get the same asset or the same request.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from config.access import StatusTransitionPermission
from declarations.policy import REQUEST_TRANSITIONS
from lifecycle.requests.choices import OPEN_REQUEST_STATUSES, RequestPriority, RequestStatus


def _declared(name: str) -> dict:
    """The django-fsm arguments of a request transition, read from the policy table."""
    declared = REQUEST_TRANSITIONS[name]
    return {
        "source": list(declared.sources),
        "target": declared.target,
        "permission": StatusTransitionPermission(declared, owner_field="requested_by_id"),
    }


class EquipmentRequest(FSMModelMixin, models.Model):
    asset_type = models.ForeignKey(
        "assets.AssetType", on_delete=models.PROTECT, related_name="equipment_requests", verbose_name=_("asset type")
    )
    destination_room = models.ForeignKey(
        "locations.Room",
        on_delete=models.PROTECT,
        related_name="equipment_requests",
        verbose_name=_("destination room"),
    )
    priority = models.CharField(
        max_length=10, choices=RequestPriority.choices, default=RequestPriority.ROUTINE, verbose_name=_("priority")
    )
    needed_by = models.DateTimeField(
        null=True, blank=True, help_text=_("When the equipment must be there, if said."), verbose_name=_("needed by")
    )
    note = models.TextField(blank=True, verbose_name=_("note"))
    # Protected: nothing assigns it; the transitions below change it.
    status = FSMField(
        max_length=10,
        choices=RequestStatus.choices,
        default=RequestStatus.OPEN,
        db_index=True,
        protected=True,
        verbose_name=_("status"),
    )

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("created at"))

    asset = models.ForeignKey(
        "assets.Asset",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="equipment_requests",
        help_text=_("The asset reserved for (then delivered to) this request."),
        verbose_name=_("asset"),
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned by"),
    )
    assigned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("assigned at"))
    delivered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("delivered by"),
    )
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cancelled by"),
    )
    cancelled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("cancelled at"))
    cancel_reason = models.TextField(blank=True, verbose_name=_("cancel reason"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = gettext_lazy("equipment request")
        verbose_name_plural = gettext_lazy("equipment requests")
        ordering = ["created_at", "id"]
        constraints = [
            # Backstop for the row locks: an asset is held by at most one open request.
            models.UniqueConstraint(
                fields=["asset"], condition=Q(status__in=OPEN_REQUEST_STATUSES), name="one_open_request_per_asset"
            ),
            models.CheckConstraint(
                condition=Q(status=RequestStatus.OPEN.value, asset__isnull=True)
                | Q(status__in=[RequestStatus.ASSIGNED.value, RequestStatus.DELIVERED.value], asset__isnull=False)
                | Q(status=RequestStatus.CANCELLED.value),
                name="assigned_or_delivered_request_has_asset",
            ),
        ]
        indexes = [models.Index(fields=["status", "priority", "created_at"], name="eqrequest_status_priority")]

    def __str__(self):
        return f"Request #{self.pk}: {self.asset_type} to {self.destination_room.code} ({self.priority})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REQUEST_STATUSES

    # Transitions (declarations.policy.REQUEST_TRANSITIONS). Run only by lifecycle.requests.services, under
    # the request's row lock; they record who and when, the services do the rest.

    @transition(field=status, **_declared("assign"))
    def assign(self, *, asset, user, at):
        self.asset, self.assigned_by, self.assigned_at = asset, user, at

    @transition(field=status, **_declared("deliver"))
    def deliver(self, *, user, at):
        self.delivered_by, self.delivered_at = user, at

    @transition(field=status, **_declared("cancel"))
    def cancel(self, *, user, at, reason: str):
        self.cancelled_by, self.cancelled_at, self.cancel_reason = user, at, reason
