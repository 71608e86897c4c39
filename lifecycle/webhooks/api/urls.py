from rest_framework.routers import SimpleRouter

from lifecycle.webhooks.api import views

app_name = "webhooks-api"

router = SimpleRouter()
router.register("webhooks/subscriptions", views.WebhookSubscriptionViewSet, basename="webhook-subscription")
router.register("webhooks/deliveries", views.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = router.urls
