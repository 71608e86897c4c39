"""Choices for asset security fields, declared once and reused everywhere."""

from django.db import models


class EncryptionStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    NOT_APPLICABLE = "not_applicable", "Not applicable (no stored data)"
    ENCRYPTED = "encrypted", "Encrypted at rest"
    NOT_ENCRYPTED = "not_encrypted", "Not encrypted"


class RiskClass(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
