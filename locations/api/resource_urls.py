from rest_framework.routers import SimpleRouter

from locations.api import resources

app_name = "locations-resources"

router = SimpleRouter()
router.register("sites", resources.SiteViewSet, basename="site")
router.register("buildings", resources.BuildingViewSet, basename="building")
router.register("floors", resources.FloorViewSet, basename="floor")
router.register("rooms", resources.RoomViewSet, basename="room")
router.register("receivers", resources.ReceiverViewSet, basename="receiver")

urlpatterns = router.urls
