"""Why an equipment-request change was refused. They extend lifecycle.exceptions, so the API maps them
to a status code and the one error format like every other lifecycle refusal."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from lifecycle.exceptions import LifecycleError


class EquipmentRequestInvalid(LifecycleError):
    """Bad input: an asset of the wrong type, a needed-by time in the past, an unknown priority."""

    status_code = 400
    code = "request_invalid"


class EquipmentRequestConflict(LifecycleError):
    """The request is no longer in a status that allows this (someone else assigned or cancelled it)."""

    code = "conflict"


class EquipmentRequestPermissionDenied(LifecycleError, PermissionDenied):
    status_code = 403
    code = "permission_denied"


class NoAssetAvailable(LifecycleError):
    """Nothing could be reserved for the request; ``reasons`` says what was tried."""

    code = "no_asset_available"

    def __init__(self, message: str, reasons: list[str] | None = None):
        self.reasons = list(reasons or [])
        super().__init__(message)

    def as_dict(self) -> dict:
        return {**super().as_dict(), "reasons": self.reasons}
