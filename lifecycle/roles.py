"""The four staff roles (DESIGN.md §1). Each is a Django group, created by a data migration."""

from django.db import models


class Role(models.TextChoices):
    NURSE = "nurse", "Nurse"
    DISPATCH = "dispatch", "Dispatch"
    CLINICAL_ENGINEERING = "clinical_engineering", "Clinical engineering"
    SECURITY = "security", "Security"

    @property
    def group_name(self) -> str:
        return self.label


def user_has_role(user, role: Role) -> bool:
    if not user or not user.is_authenticated:
        return False
    return user.groups.filter(name=role.group_name).exists()
