"""Choices for decommissioning, declared once and reused by the models, admin, certificate and docs."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from declarations.roles import Role


class SanitizationMethod(models.TextChoices):
    """NIST SP 800-88 Rev. 1 media sanitization categories."""

    CLEAR = "clear", _("Clear (logical overwrite of user-addressable storage)")
    PURGE = "purge", _("Purge (cryptographic erase, block erase or degauss; lab attack resistant)")
    DESTROY = "destroy", _("Destroy (shred, disintegrate, pulverize or incinerate the media)")


class FinalDisposition(models.TextChoices):
    RECYCLE = "recycle", _("Recycle")
    DESTROY = "destroy", _("Destroy")
    RETURN_TO_VENDOR = "return_to_vendor", _("Return to vendor")
    SELL = "sell", _("Sell")
    DONATE = "donate", _("Donate")


class SignOffRole(models.TextChoices):
    """The two roles whose sign-offs a decommissioning needs; values and labels match declarations.roles.Role."""

    CLINICAL_ENGINEERING = Role.CLINICAL_ENGINEERING.value, Role.CLINICAL_ENGINEERING.label
    SECURITY = Role.SECURITY.value, Role.SECURITY.label

    @property
    def role(self) -> Role:
        return Role(self.value)


class RevisionAction(models.TextChoices):
    OPENED = "opened", _("Checklist opened")
    EDITED = "edited", _("Checklist edited")
    CUSTODY_ADDED = "custody_added", _("Custody entry added")
    TAG_DETACHED = "tag_detached", _("RTLS tag detached")
    # A new version because what the sign-offs signed changed under them (the asset type renamed, say).
    SIGNED_CONTENT_CHANGED = "content_changed", _("Signed content changed")
