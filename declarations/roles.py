"""The four staff roles (docs/security.md). Each is a Django group, created by a data migration.

What each role may do is the policy table's business (declarations/policy.py, whose ``Role`` has the same
values); read it with ``config.access.may``."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from declarations.policy import ROLE_GROUP_NAMES
from declarations.policy import Role as PolicyRole


class Role(models.TextChoices):
    NURSE = "nurse", _("Nurse")
    DISPATCH = "dispatch", _("Dispatch")
    CLINICAL_ENGINEERING = "clinical_engineering", _("Clinical engineering")
    SECURITY = "security", _("Security")

    @property
    def group_name(self) -> str:
        """The Django group's name, stored in the database: the English name, never the translated label."""
        return ROLE_GROUP_NAMES[PolicyRole(self.value)]
