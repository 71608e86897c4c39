from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EquipmentRequestsConfig(AppConfig):
    verbose_name = _("Lifecycle: equipment requests")
    name = "lifecycle.requests"
    label = "equipment_requests"
    default_auto_field = "django.db.models.BigAutoField"
