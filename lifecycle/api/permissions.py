"""Who may call which API endpoint: gates that read the policy table (declarations/policy.py), the same
table the state machine (assets.models), the admin and the map read.

Endpoint-level gates only: whether *this* transition, sign-off or cancellation is allowed is decided by
the service that runs it (and refused with 403 and the reason), exactly as in the admin. Every refusal
here goes to the security event stream (config.access.refuse).
"""

from __future__ import annotations

from config.api_permissions import PolicyGate, gate
from declarations.policy import Action

MayAssignRequests = gate(Action.REQUEST_ASSIGN, "assign equipment to a request")
MayDeliverRequests = gate(Action.REQUEST_DELIVER, "deliver requested equipment")
MayRequestEquipment = gate(Action.REQUEST_CREATE, "request equipment")
MayManageWebhooks = gate(Action.WEBHOOK_MANAGE, "manage webhook subscriptions")
# Clinical engineering, Security and superusers: the decommissioning admin's rule. The sign-offs and the
# decommissioning itself are narrower; their services check those actions.
MayWorkOnDecommissioning = gate(Action.CHECKLIST_VIEW, "see or work on decommissioning")


class MayHandleAlerts(PolicyGate):
    """Acknowledge and resolve: the table's alert handlers, or anyone given alerts.change_alert by hand."""

    action = Action.ALERT_HANDLE
    what = "acknowledge or resolve alerts"

    def has_permission(self, request, view):
        if request.user.is_authenticated and request.user.has_perm("alerts.change_alert"):
            return True
        return super().has_permission(request, view)
