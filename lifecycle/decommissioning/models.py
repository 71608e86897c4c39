"""Decommissioning (docs/design.md §4): a checklist per asset, its change history, the custody chain,
the two sign-offs and the certificate of sanitization and disposal.

Every write goes through lifecycle.decommissioning.services, which locks the checklist row and
bumps its version. The history rows (revisions, custody entries, sign-offs) and the certificate
are append-only (lifecycle.models.AppendOnlyModel): they refuse updates and deletes, and on
PostgreSQL a trigger refuses them in the database too (migration 0002).
"""

import json
import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from declarations.choices import EncryptionStatus
from lifecycle.decommissioning.choices import FinalDisposition, RevisionAction, SanitizationMethod, SignOffRole
from lifecycle.models import AppendOnlyError, AppendOnlyModel

__all__ = [
    "AppendOnlyError",
    "ChecklistRevision",
    "CustodyEntry",
    "DecommissioningCertificate",
    "DecommissioningChecklist",
    "SignOff",
]


class DecommissioningChecklist(models.Model):
    """What has to be true before an asset may be retired. Editable only while the asset is in biomed."""

    asset = models.OneToOneField(
        "assets.Asset", on_delete=models.PROTECT, related_name="decommissioning_checklist", verbose_name=_("asset")
    )
    version = models.PositiveIntegerField(
        default=1,
        editable=False,
        help_text=_("Bumped by every change; a sign-off approves one version."),
        verbose_name=_("version"),
    )

    # 1. Stored data
    data_bearing = models.BooleanField(
        help_text=_("Does the device store data (patient, configuration, logs)?"), verbose_name=_("data bearing")
    )
    data_bearing_note = models.TextField(
        blank=True,
        help_text=_("Required when this answer differs from the asset record: why it does (not) store data."),
        verbose_name=_("data bearing note"),
    )
    encryption_status = models.CharField(
        max_length=20,
        choices=EncryptionStatus.choices,
        default=EncryptionStatus.UNKNOWN,
        verbose_name=_("encryption status"),
    )
    encryption_status_confirmed = models.BooleanField(
        default=False,
        help_text=_("Someone checked the device itself, not just the asset record."),
        verbose_name=_("encryption status confirmed"),
    )
    sanitization_method = models.CharField(
        max_length=10,
        choices=SanitizationMethod.choices,
        blank=True,
        help_text=_("NIST SP 800-88 category."),
        verbose_name=_("sanitization method"),
    )
    sanitization_tool = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Tool or procedure, with its version."),
        verbose_name=_("sanitization tool"),
    )
    sanitization_verification = models.TextField(
        blank=True,
        help_text=_("How the result was verified, and the result."),
        verbose_name=_("sanitization verification"),
    )
    sanitized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sanitized by"),
    )
    sanitized_by_name = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Performer who has no account here, e.g. a vendor technician."),
        verbose_name=_("sanitized by name"),
    )
    sanitized_on = models.DateField(null=True, blank=True, verbose_name=_("sanitized on"))

    # 2. Network access
    networked = models.BooleanField(
        help_text=_("Has the device ever had network access (wired, Wi-Fi, cellular)?"), verbose_name=_("networked")
    )
    networked_note = models.TextField(
        blank=True,
        help_text=_("Required when this answer differs from the asset record: why it is (not) networked."),
        verbose_name=_("networked note"),
    )
    network_credentials_revoked = models.BooleanField(
        default=False, help_text=_("Accounts, passwords and keys."), verbose_name=_("network credentials revoked")
    )
    network_certificates_revoked = models.BooleanField(
        default=False, help_text=_("Device certificates (802.1X, TLS)."), verbose_name=_("network certificates revoked")
    )
    network_allowlists_removed = models.BooleanField(
        default=False,
        help_text=_("MAC/IP allowlists, firewall rules, NAC."),
        verbose_name=_("network allowlists removed"),
    )
    network_revocation_details = models.TextField(
        blank=True, help_text=_("Change tickets or other references."), verbose_name=_("network revocation details")
    )

    # 3. RTLS tag: recorded by the detach service, which also closes the tag binding.
    tag_detached = models.BooleanField(default=False, editable=False, verbose_name=_("tag detached"))
    detached_tag_id = models.CharField(max_length=12, blank=True, editable=False, verbose_name=_("detached tag id"))
    tag_detached_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("tag detached at"))
    tag_detached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("tag detached by"),
    )

    # 4. Final disposition (the custody chain is in CustodyEntry)
    final_disposition = models.CharField(
        max_length=20, choices=FinalDisposition.choices, blank=True, verbose_name=_("final disposition")
    )
    disposition_recipient = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Who receives the device: recycler, vendor, buyer or charity."),
        verbose_name=_("disposition recipient"),
    )
    disposition_reference = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Recipient's receipt, waste transfer note or RMA number."),
        verbose_name=_("disposition reference"),
    )

    opened_at = models.DateTimeField(auto_now_add=True, verbose_name=_("opened at"))
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("opened by")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = gettext_lazy("decommissioning checklist")
        verbose_name_plural = gettext_lazy("decommissioning checklists")
        ordering = ["-opened_at"]

    def __str__(self):
        return f"Decommissioning checklist for {self.asset} (version {self.version})"


class ChecklistRevision(AppendOnlyModel):
    """One row per checklist version: the checklist's change history."""

    checklist = models.ForeignKey(
        DecommissioningChecklist, on_delete=models.PROTECT, related_name="revisions", verbose_name=_("checklist")
    )
    version = models.PositiveIntegerField(verbose_name=_("version"))
    action = models.CharField(max_length=20, choices=RevisionAction.choices, verbose_name=_("action"))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("changed by")
    )
    changed_at = models.DateTimeField(verbose_name=_("changed at"))
    changed_fields = models.JSONField(
        default=list, help_text=_("Names of the fields this version changed."), verbose_name=_("changed fields")
    )
    snapshot = models.JSONField(
        help_text=_("The whole checklist, custody chain included, at this version."), verbose_name=_("snapshot")
    )

    class Meta:
        verbose_name = gettext_lazy("checklist revision")
        verbose_name_plural = gettext_lazy("checklist revisions")
        ordering = ["checklist", "version"]
        constraints = [models.UniqueConstraint(fields=["checklist", "version"], name="one_revision_per_version")]

    def __str__(self):
        return f"{self.checklist.asset} checklist version {self.version}: {self.get_action_display()}"


class CustodyEntry(AppendOnlyModel):
    """One hand-over in the chain of custody. Entries are appended in order and never edited."""

    checklist = models.ForeignKey(
        DecommissioningChecklist, on_delete=models.PROTECT, related_name="custody_entries", verbose_name=_("checklist")
    )
    position = models.PositiveIntegerField(
        help_text=_("1 for the first hand-over, then 2, 3, ..."), verbose_name=_("position")
    )
    from_party = models.CharField(_("from"), max_length=200)
    to_party = models.CharField(_("to"), max_length=200)
    transferred_at = models.DateTimeField(_("time"))
    place = models.CharField(max_length=200, verbose_name=_("place"))
    container_or_seal_id = models.CharField(
        max_length=100, blank=True, help_text=_("Container number or seal id."), verbose_name=_("container or seal id")
    )
    note = models.TextField(blank=True, verbose_name=_("note"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    recorded_at = models.DateTimeField(verbose_name=_("recorded at"))

    class Meta:
        verbose_name = gettext_lazy("custody entry")
        verbose_name_plural = gettext_lazy("custody entries")
        ordering = ["checklist", "position"]
        constraints = [models.UniqueConstraint(fields=["checklist", "position"], name="one_custody_entry_per_position")]

    def __str__(self):
        return f"#{self.position}: {self.from_party} → {self.to_party}"


class SignOff(AppendOnlyModel):
    """A person's approval of one checklist version in one role. Valid while the checklist is still at that version
    and what it signed still matches (lifecycle.decommissioning.selectors.sign_off_void_reason)."""

    checklist = models.ForeignKey(
        DecommissioningChecklist, on_delete=models.PROTECT, related_name="sign_offs", verbose_name=_("checklist")
    )
    role = models.CharField(max_length=30, choices=SignOffRole.choices, verbose_name=_("role"))
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("signed by")
    )
    signed_at = models.DateTimeField(verbose_name=_("signed at"))
    checklist_version = models.PositiveIntegerField(
        help_text=_("The checklist version this sign-off approved."), verbose_name=_("checklist version")
    )
    # What was signed: the canonical JSON of the checklist snapshot plus the asset's identity
    # (selectors.signed_content), and its SHA-256. Decommissioning recomputes it and refuses on a mismatch;
    # the certificate is built from this content. Blank only on sign-offs given before it was recorded.
    signed_content = models.TextField(blank=True, editable=False, verbose_name=_("signed content"))
    content_sha256 = models.CharField(max_length=64, blank=True, editable=False, verbose_name=_("content sha256"))

    class Meta:
        verbose_name = gettext_lazy("sign-off")
        verbose_name_plural = gettext_lazy("sign-offs")
        ordering = ["checklist", "signed_at"]
        constraints = [
            # Backstops for the service's checks: per version one sign-off per role, and one per person,
            # so one person can never supply both sign-offs.
            models.UniqueConstraint(
                fields=["checklist", "role", "checklist_version"], name="one_sign_off_per_role_and_version"
            ),
            models.UniqueConstraint(
                fields=["checklist", "signed_by", "checklist_version"], name="one_sign_off_per_person_and_version"
            ),
        ]

    def __str__(self):
        return f"{self.get_role_display()} sign-off by {self.signed_by} (version {self.checklist_version})"


class DecommissioningCertificate(AppendOnlyModel):
    """Certificate of sanitization and disposal. Immutable: `content_json` is the canonical JSON its hash covers."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, verbose_name=_("id"))
    asset = models.OneToOneField(
        "assets.Asset", on_delete=models.PROTECT, related_name="decommissioning_certificate", verbose_name=_("asset")
    )
    checklist = models.OneToOneField(
        DecommissioningChecklist, on_delete=models.PROTECT, related_name="certificate", verbose_name=_("checklist")
    )
    issued_at = models.DateTimeField(verbose_name=_("issued at"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("issued by")
    )
    content_json = models.TextField(
        help_text=_("Canonical JSON: sorted keys, no whitespace, UTF-8."), verbose_name=_("content json")
    )
    content_sha256 = models.CharField(
        max_length=64, help_text=_("SHA-256 of content_json's UTF-8 bytes, hex."), verbose_name=_("content sha256")
    )

    class Meta:
        verbose_name = gettext_lazy("decommissioning certificate")
        verbose_name_plural = gettext_lazy("decommissioning certificates")
        ordering = ["-issued_at"]

    def __str__(self):
        return f"Certificate {self.id} for {self.asset}"

    @property
    def content(self) -> dict:
        return json.loads(self.content_json)
