from rest_framework.routers import SimpleRouter

from assets.api import views

app_name = "assets-api"

router = SimpleRouter()
router.register("asset-types", views.AssetTypeViewSet, basename="asset-type")
router.register("assets", views.AssetViewSet, basename="asset")

urlpatterns = router.urls
