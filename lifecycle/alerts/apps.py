from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    verbose_name = _("Lifecycle: par levels and alerts")
    name = "lifecycle.alerts"
    label = "alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The imports below sit in ready() on purpose: it runs once every app's models are loaded (PLC0415 is
        # ignored for apps.py in pyproject.toml).
        # The location pipeline sends these after each committed batch; listening here keeps the
        # dependency one way (locations never imports lifecycle).
        from lifecycle.alerts import handlers
        from locations.signals import room_changes_committed, tags_reported

        room_changes_committed.connect(handlers.on_room_changes_committed, dispatch_uid="alerts.room_changes")
        tags_reported.connect(handlers.on_tags_reported, dispatch_uid="alerts.tags_reported")
