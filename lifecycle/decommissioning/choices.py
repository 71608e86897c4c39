"""Choices for decommissioning, declared once and reused by the models, admin, certificate and docs."""

from django.db import models

from declarations.roles import Role


class SanitizationMethod(models.TextChoices):
    """NIST SP 800-88 Rev. 1 media sanitization categories."""

    CLEAR = "clear", "Clear (logical overwrite of user-addressable storage)"
    PURGE = "purge", "Purge (cryptographic erase, block erase or degauss; lab attack resistant)"
    DESTROY = "destroy", "Destroy (shred, disintegrate, pulverize or incinerate the media)"


class FinalDisposition(models.TextChoices):
    RECYCLE = "recycle", "Recycle"
    DESTROY = "destroy", "Destroy"
    RETURN_TO_VENDOR = "return_to_vendor", "Return to vendor"
    SELL = "sell", "Sell"
    DONATE = "donate", "Donate"


class SignOffRole(models.TextChoices):
    """The two roles whose sign-offs a decommissioning needs; values and labels match declarations.roles.Role."""

    CLINICAL_ENGINEERING = Role.CLINICAL_ENGINEERING.value, Role.CLINICAL_ENGINEERING.label
    SECURITY = Role.SECURITY.value, Role.SECURITY.label

    @property
    def role(self) -> Role:
        return Role(self.value)


class RevisionAction(models.TextChoices):
    OPENED = "opened", "Checklist opened"
    EDITED = "edited", "Checklist edited"
    CUSTODY_ADDED = "custody_added", "Custody entry added"
    TAG_DETACHED = "tag_detached", "RTLS tag detached"
