from rest_framework.routers import SimpleRouter

from lifecycle.requests.api import views

app_name = "equipment-requests-api"

router = SimpleRouter()
router.register("equipment-requests", views.EquipmentRequestViewSet, basename="equipment-request")

urlpatterns = router.urls
