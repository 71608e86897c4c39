from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    verbose_name = "Lifecycle: states, roles and decommissioning"
    name = "lifecycle"
    default_auto_field = "django.db.models.BigAutoField"
