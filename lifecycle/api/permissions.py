"""Who may call which API endpoint: the roles of lifecycle/roles.py through lifecycle.permissions.RolePermission,
the same objects the state machine (assets.models), the admin and the map use.

Endpoint-level gates only: whether *this* transition, sign-off or cancellation is allowed is decided by
the service that runs it (and refused with 403 and the reason), exactly as in the admin.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from assets.models import DISPATCH, NURSE_OR_DISPATCH
from lifecycle.decommissioning.selectors import user_can_edit_checklist
from lifecycle.permissions import RolePermission
from lifecycle.roles import Role

# Acknowledge and resolve alerts: whoever may change alerts in the admin (the alerts.change_alert permission:
# Clinical engineering by migration lifecycle/0005, superusers), and Dispatch, who has no admin and works par
# levels and alerts through the API.
ALERT_HANDLERS = RolePermission(Role.DISPATCH)
# Register webhooks: systems run by dispatch or IT/security.
WEBHOOK_MANAGERS = RolePermission(Role.DISPATCH, Role.SECURITY)


class _RoleGate(BasePermission):
    rule: RolePermission
    what = "do this"

    def has_permission(self, request, view):
        if self.rule(None, request.user):
            return True
        self.message = f"only {self.rule.describe()} may {self.what}"
        return False


class IsDispatch(_RoleGate):
    rule = DISPATCH
    what = "dispatch equipment"


class MayRequestEquipment(_RoleGate):
    rule = NURSE_OR_DISPATCH
    what = "request equipment"


class MayHandleAlerts(BasePermission):
    def has_permission(self, request, view):
        user = request.user
        if ALERT_HANDLERS(None, user) or user.has_perm("alerts.change_alert"):
            return True
        self.message = (
            f"only {ALERT_HANDLERS.describe()} and staff who may change alerts in the admin "
            "(Clinical engineering) may acknowledge or resolve alerts"
        )
        return False


class MayManageWebhooks(_RoleGate):
    rule = WEBHOOK_MANAGERS
    what = "manage webhook subscriptions"


class MayWorkOnDecommissioning(BasePermission):
    """Clinical engineering, Security and superusers: the decommissioning admin's rule."""

    message = "only Clinical engineering or Security staff may see or work on decommissioning"

    def has_permission(self, request, view):
        return user_can_edit_checklist(request.user)


class ReadOnly(BasePermission):
    def has_permission(self, request, view):
        return request.method in SAFE_METHODS
