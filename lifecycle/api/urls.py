from django.urls import path, register_converter
from rest_framework.routers import SimpleRouter

from lifecycle.api import decommissioning, views

app_name = "lifecycle-api"


class ObjectId:
    """A database id: digits, at most 18 of them (a longer one is a 404, never a database overflow)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(ObjectId, "object_id")

ASSET = "assets/<object_id:asset_id>/"

router = SimpleRouter()
router.register("work-orders", views.WorkOrderViewSet, basename="work-order")
router.register("recalls", views.RecallViewSet, basename="recall")
router.register("par-levels", views.ParLevelViewSet, basename="par-level")
router.register("alerts", views.AlertViewSet, basename="alert")

urlpatterns = [
    path("states/", views.StateListView.as_view(), name="state-list"),
    path(ASSET + "transitions/", views.AssetTransitionsView.as_view(), name="asset-transitions"),
    path(ASSET + "decommissioning/", decommissioning.ChecklistView.as_view(), name="decommissioning"),
    path(
        ASSET + "decommissioning/custody-entries/",
        decommissioning.CustodyEntriesView.as_view(),
        name="decommissioning-custody-entries",
    ),
    path(
        ASSET + "decommissioning/tag-detachment/",
        decommissioning.TagDetachmentView.as_view(),
        name="decommissioning-tag-detachment",
    ),
    path(
        ASSET + "decommissioning/sign-offs/", decommissioning.SignOffsView.as_view(), name="decommissioning-sign-offs"
    ),
    path(
        ASSET + "decommissioning/decommission/",
        decommissioning.DecommissionView.as_view(),
        name="decommissioning-decommission",
    ),
    path(
        ASSET + "decommissioning/certificate/",
        decommissioning.CertificateView.as_view(),
        name="decommissioning-certificate",
    ),
    *router.urls,
]
