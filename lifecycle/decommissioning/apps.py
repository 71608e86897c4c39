from django.apps import AppConfig


class DecommissioningConfig(AppConfig):
    name = "lifecycle.decommissioning"
    label = "decommissioning"
    verbose_name = "Decommissioning: checklist, sign-offs and certificates"
    default_auto_field = "django.db.models.BigAutoField"
