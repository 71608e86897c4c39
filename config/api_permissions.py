"""The REST API's side of the policy table: DRF permission gates and the serializer mixin that leaves
security fields out (declarations/policy.py, config/access.py)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from config.access import check, describe, may
from declarations.policy import Action


class PolicyGate(BasePermission):
    """DRF: allowed when the caller's roles may do ``action``. Anonymous callers get 401 (DRF), others 403."""

    action: Action
    what = "do this"

    def has_permission(self, request, view):
        if check(request.user, self.action, door="api", method=request.method, path=request.path):
            return True
        self.message = f"only {describe(self.action)} may {self.what}"
        return False


def gate(action: Action, what: str) -> type[PolicyGate]:
    return type(f"May_{action.name}", (PolicyGate,), {"action": action, "what": what})


# The default of every /api/v1/ view (settings.REST_FRAMEWORK): a signed-in user without a role gets 403.
MayReadAssets = gate(Action.READ_ASSETS, "read the inventory")
MayReadLocations = gate(Action.READ_LOCATIONS, "read sites, buildings, floors, rooms and receivers")


class SecurityFieldsMixin:
    """A serializer that leaves out ``security_fields`` (firmware, networked, encryption, risk class,
    receiver positions) unless the caller may ``READ_SECURITY_FIELDS`` (issue 13 defect 6).

    The OpenAPI schema keeps them, as optional properties: it documents what a permitted role receives.
    """

    security_fields: tuple[str, ...] = ()

    def get_fields(self):
        fields = super().get_fields()
        if getattr(self.context.get("view"), "swagger_fake_view", False):
            return fields
        request = self.context.get("request")
        if request is None or not may(getattr(request, "user", None) or _NOBODY, Action.READ_SECURITY_FIELDS):
            for name in self.security_fields:
                fields.pop(name, None)
        return fields


class _Nobody:
    is_authenticated = False
    is_active = False


_NOBODY = _Nobody()
