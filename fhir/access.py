"""Who may read FHIR: exactly who may read the REST API (/api/v1/), plus a staff role.

- Authentication and permission classes are the /api/v1/ asset and location list endpoints' own
  (imported from their viewsets, not copied), so when those change, FHIR follows.
- ``HasStaffRole``: a signed-in user with none of the four roles (and not a superuser) is refused with
  403. /api/v1/ lets such a token read today (IsAuthenticated only); FHIR is the stricter of the two
  until the policy table (issue 14) makes them the same.
- Security fields (``safety``, firmware ``version``) follow the /api/v1/ asset detail: a caller sees them
  on FHIR exactly when that serializer gives them ``firmware_version``.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from assets.api.serializers import AssetDetailSerializer
from assets.api.views import AssetViewSet
from lifecycle.roles import Role
from locations.api.resources import RoomViewSet

DEVICE_AUTHENTICATION = list(AssetViewSet.authentication_classes)
LOCATION_AUTHENTICATION = list(RoomViewSet.authentication_classes)


STAFF_GROUPS = frozenset(role.group_name for role in Role)


class HasStaffRole(BasePermission):
    """A staff role (a Django group of lifecycle/roles.py) or a superuser. Once the policy table lands, this
    is its READ_ASSETS / READ_LOCATIONS rule, which refuses a user without a role too."""

    message = "your account has no staff role (Nurse, Dispatch, Clinical engineering, Security): ask an administrator"

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        return user.is_superuser or user.groups.filter(name__in=STAFF_GROUPS).exists()


DEVICE_PERMISSIONS = [*AssetViewSet.permission_classes, HasStaffRole]
LOCATION_PERMISSIONS = [*RoomViewSet.permission_classes, HasStaffRole]


def may_read_security_fields(request) -> bool:
    """The /api/v1/ rule: does its asset detail show this caller the security fields?"""
    return "firmware_version" in AssetDetailSerializer(context={"request": request}).fields
