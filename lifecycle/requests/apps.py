from django.apps import AppConfig


class EquipmentRequestsConfig(AppConfig):
    verbose_name = "Lifecycle: equipment requests"
    name = "lifecycle.requests"
    label = "equipment_requests"
    default_auto_field = "django.db.models.BigAutoField"
