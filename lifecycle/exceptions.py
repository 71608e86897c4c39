"""Why a lifecycle change was refused. Each error knows the HTTP status an API answers with.

The services raise these; the API, the admin and the map turn them into a response or a
message without knowing the rules behind them. Django-free apart from PermissionDenied, so
that DRF and the admin map a refused role to 403 on their own.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class LifecycleError(Exception):
    status_code = 409
    code = "lifecycle_error"

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)

    def as_dict(self) -> dict:
        return {"code": self.code, "detail": self.message}


class UnknownTransition(LifecycleError):
    """The transition name is not one of the state machine's transitions."""

    status_code = 400
    code = "unknown_transition"


class TransitionInputInvalid(LifecycleError):
    """Input the transition does not take (a target state for a transition that has only one)."""

    status_code = 400
    code = "invalid"


class ReasonRequired(LifecycleError):
    """The transition needs a note saying why (send_to_biomed)."""

    status_code = 400
    code = "reason_required"


class TransitionNotAllowed(LifecycleError):
    """The asset's current state does not allow this transition."""

    code = "transition_not_allowed"


class GuardFailed(LifecycleError):
    """The state allows the transition, but a guard refuses it.

    ``reasons``: why, in words, in the reader's language; ``reason_codes``: the refusing guards' names
    (``is_located``, ``is_serviceable``, ``decommission_ready``), the same in every language."""

    code = "guard_failed"

    def __init__(self, message: str, reasons: list[str], reason_codes: list[str] | None = None):
        self.reasons = list(reasons)
        self.reason_codes = list(dict.fromkeys(reason_codes or ()))
        super().__init__(message)

    def as_dict(self) -> dict:
        return {**super().as_dict(), "reasons": self.reasons, "reason_codes": self.reason_codes}


class ConcurrentTransition(LifecycleError):
    """Somebody changed the asset's state after the caller loaded it: one wins, this one lost."""

    code = "conflict"


class AssetHeldByRequest(LifecycleError):
    """The asset is reserved for an open equipment request: releasing or delivering it goes through that
    request (deliver or cancel it), and no other request may take it."""

    code = "held_by_request"


class TransitionPermissionDenied(LifecycleError, PermissionDenied):
    """The user's roles do not allow this transition."""

    status_code = 403
    code = "permission_denied"


class StepUpRequired(TransitionPermissionDenied):
    """The role allows it, but the credential is not fresh enough: sign-offs and decommissioning need a sign-in
    at most FRESH_SIGNIN_MINUTES old or a step-up token (declarations.policy.FRESH_SIGNIN_ACTIONS)."""

    code = "step_up_required"


class WorkOrderError(LifecycleError):
    """A work order change that its status does not allow, or bad work order input."""

    status_code = 400
    code = "work_order_invalid"


class RecallError(LifecycleError):
    """A recall that cannot be issued as given."""

    status_code = 400
    code = "recall_invalid"
