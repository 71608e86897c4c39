"""Why a decommissioning change was refused. They extend lifecycle.exceptions, so the API and admin
turn them into a status code and a message the same way as every other lifecycle refusal."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from lifecycle.exceptions import LifecycleError


class ChecklistInvalid(LifecycleError):
    """Bad input: an unknown field, a value outside its choices, a date in the future."""

    status_code = 400
    code = "checklist_invalid"


class ChecklistLocked(LifecycleError):
    """The asset is not in biomed (or already decommissioned): its checklist cannot change."""

    code = "checklist_locked"


class ChecklistConflict(LifecycleError):
    """The checklist changed after the caller read it (the version they saw is not the current one)."""

    code = "conflict"


class DecommissioningPermissionDenied(LifecycleError, PermissionDenied):
    """The user's roles do not allow this decommissioning action."""

    status_code = 403
    code = "permission_denied"


class SignOffRefused(LifecycleError):
    """The sign-off cannot be recorded; ``reasons`` lists each problem (e.g. what the checklist still misses)."""

    code = "sign_off_refused"

    def __init__(self, message: str, reasons: list[str] | None = None):
        self.reasons = list(reasons or [])
        super().__init__(message)

    def as_dict(self) -> dict:
        return {**super().as_dict(), "reasons": self.reasons}


class DecommissionRefused(LifecycleError):
    """The asset cannot be decommissioned yet; ``reasons`` are the blockers."""

    code = "decommission_refused"

    def __init__(self, message: str, reasons: list[str] | None = None):
        self.reasons = list(reasons or [])
        super().__init__(message)

    def as_dict(self) -> dict:
        return {**super().as_dict(), "reasons": self.reasons}
