from django.apps import AppConfig


class DecommissioningConfig(AppConfig):
    name = "lifecycle.decommissioning"
    label = "decommissioning"
    verbose_name = "Decommissioning: checklist, sign-offs and certificates"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The imports below sit in ready() on purpose: it runs once every app's models are loaded (PLC0415 is
        # ignored for apps.py in pyproject.toml).
        from lifecycle.decommissioning.services import on_transition_applied
        from lifecycle.signals import transition_applied

        transition_applied.connect(on_transition_applied, dispatch_uid="decommissioning.certificate")
