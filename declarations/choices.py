"""Choices for asset security fields, declared once and reused everywhere."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class EncryptionStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    NOT_APPLICABLE = "not_applicable", _("Not applicable (no stored data)")
    ENCRYPTED = "encrypted", _("Encrypted at rest")
    NOT_ENCRYPTED = "not_encrypted", _("Not encrypted")


class RiskClass(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
