"""Who may read FHIR: exactly who may read the REST API (/api/v1/).

- Authentication and permission classes are the /api/v1/ asset and location endpoints' own (imported
  from their viewsets, not copied): the policy table's READ_ASSETS and READ_LOCATIONS gates
  (declarations/policy.py). A signed-in user with none of the four roles is refused with 403 on both.
- Security fields (``safety``, firmware ``version``) follow the /api/v1/ asset detail: a caller sees them
  on FHIR exactly when that serializer gives them ``firmware_version``.
"""

from __future__ import annotations

from assets.api.serializers import AssetDetailSerializer
from assets.api.views import AssetViewSet
from locations.api.resources import RoomViewSet

DEVICE_AUTHENTICATION = list(AssetViewSet.authentication_classes)
LOCATION_AUTHENTICATION = list(RoomViewSet.authentication_classes)


DEVICE_PERMISSIONS = list(AssetViewSet.permission_classes)
LOCATION_PERMISSIONS = list(RoomViewSet.permission_classes)


def may_read_security_fields(request) -> bool:
    """The /api/v1/ rule: does its asset detail show this caller the security fields?"""
    return "firmware_version" in AssetDetailSerializer(context={"request": request}).fields
