"""Alert kinds and statuses: declared once, reused by the models, services, admin and the map."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AlertKind(models.TextChoices):
    PAR_BELOW_CRITICAL = "par_below_critical", _("Par level below critical")
    MISSING = "missing", _("Missing")
    LEFT_SITE = "left_site", _("Left the site")
    LOW_BATTERY = "low_battery", _("Tag battery low")
    PM_OVERDUE = "pm_overdue", _("Planned maintenance overdue")
    RECALL_OPEN = "recall_open", _("Open recall")
    SILENT_RECEIVER = "silent_receiver", _("Receiver silent")
    LOAN_OVERDUE = "loan_overdue", _("Loan return overdue")
    GATEWAY_CLOCK = "gateway_clock", _("Gateway clock off")

    @property
    def subject_field(self) -> str:
        """The Alert foreign key that names what this kind of alert is about."""
        return SUBJECT_FIELD[self]


# Each kind is about exactly one kind of thing. The battery belongs to the tag, not to the asset
# it is on: tags move between assets and the battery still needs replacing.
SUBJECT_FIELD = {
    AlertKind.PAR_BELOW_CRITICAL: "par_level",
    AlertKind.MISSING: "asset",
    AlertKind.LEFT_SITE: "asset",
    AlertKind.LOW_BATTERY: "tag",
    AlertKind.PM_OVERDUE: "asset",
    AlertKind.RECALL_OPEN: "asset",
    AlertKind.SILENT_RECEIVER: "receiver",
    AlertKind.LOAN_OVERDUE: "asset",
    AlertKind.GATEWAY_CLOCK: "receiver",
}
SUBJECT_FIELDS = ("asset", "tag", "par_level", "receiver")


class AlertStatus(models.TextChoices):
    NEW = "new", _("New")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


# Plain strings, so that migrations holding them do not depend on the enum.
OPEN_STATUSES = (AlertStatus.NEW.value, AlertStatus.ACKNOWLEDGED.value)
