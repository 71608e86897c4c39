"""The four staff roles (docs/security.md). Each is a Django group, created by a data migration.

What each role may do is the policy table's business (declarations/policy.py, whose ``Role`` has the same
values); read it with ``config.access.may``."""

from django.db import models


class Role(models.TextChoices):
    NURSE = "nurse", "Nurse"
    DISPATCH = "dispatch", "Dispatch"
    CLINICAL_ENGINEERING = "clinical_engineering", "Clinical engineering"
    SECURITY = "security", "Security"

    @property
    def group_name(self) -> str:
        return self.label
