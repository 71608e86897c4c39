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

    asset = models.OneToOneField("assets.Asset", on_delete=models.PROTECT, related_name="decommissioning_checklist")
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Bumped by every change; a sign-off approves one version."
    )

    # 1. Stored data
    data_bearing = models.BooleanField(help_text="Does the device store data (patient, configuration, logs)?")
    data_bearing_note = models.TextField(
        blank=True, help_text="Required when this answer differs from the asset record: why it does (not) store data."
    )
    encryption_status = models.CharField(
        max_length=20, choices=EncryptionStatus.choices, default=EncryptionStatus.UNKNOWN
    )
    encryption_status_confirmed = models.BooleanField(
        default=False, help_text="Someone checked the device itself, not just the asset record."
    )
    sanitization_method = models.CharField(
        max_length=10, choices=SanitizationMethod.choices, blank=True, help_text="NIST SP 800-88 category."
    )
    sanitization_tool = models.CharField(max_length=200, blank=True, help_text="Tool or procedure, with its version.")
    sanitization_verification = models.TextField(blank=True, help_text="How the result was verified, and the result.")
    sanitized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sanitized_by_name = models.CharField(
        max_length=200, blank=True, help_text="Performer who has no account here, e.g. a vendor technician."
    )
    sanitized_on = models.DateField(null=True, blank=True)

    # 2. Network access
    networked = models.BooleanField(help_text="Has the device ever had network access (wired, Wi-Fi, cellular)?")
    networked_note = models.TextField(
        blank=True, help_text="Required when this answer differs from the asset record: why it is (not) networked."
    )
    network_credentials_revoked = models.BooleanField(default=False, help_text="Accounts, passwords and keys.")
    network_certificates_revoked = models.BooleanField(default=False, help_text="Device certificates (802.1X, TLS).")
    network_allowlists_removed = models.BooleanField(default=False, help_text="MAC/IP allowlists, firewall rules, NAC.")
    network_revocation_details = models.TextField(blank=True, help_text="Change tickets or other references.")

    # 3. RTLS tag: recorded by the detach service, which also closes the tag binding.
    tag_detached = models.BooleanField(default=False, editable=False)
    detached_tag_id = models.CharField(max_length=12, blank=True, editable=False)
    tag_detached_at = models.DateTimeField(null=True, blank=True, editable=False)
    tag_detached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )

    # 4. Final disposition (the custody chain is in CustodyEntry)
    final_disposition = models.CharField(max_length=20, choices=FinalDisposition.choices, blank=True)
    disposition_recipient = models.CharField(
        max_length=200, blank=True, help_text="Who receives the device: recycler, vendor, buyer or charity."
    )
    disposition_reference = models.CharField(
        max_length=200, blank=True, help_text="Recipient's receipt, waste transfer note or RMA number."
    )

    opened_at = models.DateTimeField(auto_now_add=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("decommissioning checklist")
        verbose_name_plural = gettext_lazy("decommissioning checklists")
        ordering = ["-opened_at"]

    def __str__(self):
        return f"Decommissioning checklist for {self.asset} (version {self.version})"


class ChecklistRevision(AppendOnlyModel):
    """One row per checklist version: the checklist's change history."""

    checklist = models.ForeignKey(DecommissioningChecklist, on_delete=models.PROTECT, related_name="revisions")
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=20, choices=RevisionAction.choices)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField()
    changed_fields = models.JSONField(default=list, help_text="Names of the fields this version changed.")
    snapshot = models.JSONField(help_text="The whole checklist, custody chain included, at this version.")

    class Meta:
        verbose_name = gettext_lazy("checklist revision")
        verbose_name_plural = gettext_lazy("checklist revisions")
        ordering = ["checklist", "version"]
        constraints = [models.UniqueConstraint(fields=["checklist", "version"], name="one_revision_per_version")]

    def __str__(self):
        return f"{self.checklist.asset} checklist version {self.version}: {self.get_action_display()}"


class CustodyEntry(AppendOnlyModel):
    """One hand-over in the chain of custody. Entries are appended in order and never edited."""

    checklist = models.ForeignKey(DecommissioningChecklist, on_delete=models.PROTECT, related_name="custody_entries")
    position = models.PositiveIntegerField(help_text="1 for the first hand-over, then 2, 3, ...")
    from_party = models.CharField("from", max_length=200)
    to_party = models.CharField("to", max_length=200)
    transferred_at = models.DateTimeField("time")
    place = models.CharField(max_length=200)
    container_or_seal_id = models.CharField(max_length=100, blank=True, help_text="Container number or seal id.")
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = gettext_lazy("custody entry")
        verbose_name_plural = gettext_lazy("custody entries")
        ordering = ["checklist", "position"]
        constraints = [models.UniqueConstraint(fields=["checklist", "position"], name="one_custody_entry_per_position")]

    def __str__(self):
        return f"#{self.position}: {self.from_party} → {self.to_party}"


class SignOff(AppendOnlyModel):
    """A person's approval of one checklist version in one role. Valid while the checklist is still at that version."""

    checklist = models.ForeignKey(DecommissioningChecklist, on_delete=models.PROTECT, related_name="sign_offs")
    role = models.CharField(max_length=30, choices=SignOffRole.choices)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField()
    checklist_version = models.PositiveIntegerField(help_text="The checklist version this sign-off approved.")
    # What was signed: the canonical JSON of the checklist snapshot plus the asset's identity
    # (selectors.signed_content), and its SHA-256. Decommissioning recomputes it and refuses on a mismatch;
    # the certificate is built from this content. Blank only on sign-offs given before it was recorded.
    signed_content = models.TextField(blank=True, editable=False)
    content_sha256 = models.CharField(max_length=64, blank=True, editable=False)

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

    @property
    def is_valid(self) -> bool:
        return self.checklist_version == self.checklist.version


class DecommissioningCertificate(AppendOnlyModel):
    """Certificate of sanitization and disposal. Immutable: `content_json` is the canonical JSON its hash covers."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    asset = models.OneToOneField("assets.Asset", on_delete=models.PROTECT, related_name="decommissioning_certificate")
    checklist = models.OneToOneField(DecommissioningChecklist, on_delete=models.PROTECT, related_name="certificate")
    issued_at = models.DateTimeField()
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    content_json = models.TextField(help_text="Canonical JSON: sorted keys, no whitespace, UTF-8.")
    content_sha256 = models.CharField(max_length=64, help_text="SHA-256 of content_json's UTF-8 bytes, hex.")

    class Meta:
        verbose_name = gettext_lazy("decommissioning certificate")
        verbose_name_plural = gettext_lazy("decommissioning certificates")
        ordering = ["-issued_at"]

    def __str__(self):
        return f"Certificate {self.id} for {self.asset}"

    @property
    def content(self) -> dict:
        return json.loads(self.content_json)
