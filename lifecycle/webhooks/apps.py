from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    verbose_name = _("Lifecycle: webhooks")
    name = "lifecycle.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The imports below sit in ready() on purpose: it runs once every app's models are loaded (PLC0415 is
        # ignored for apps.py in pyproject.toml).
        # State changes and alerts are recorded by other apps; listening here keeps the dependency one
        # way (they never import webhooks). Requests emit their events from their own services.
        from django.db.models.signals import post_save

        from lifecycle.alerts.models import Alert
        from lifecycle.alerts.signals import alerts_auto_resolved
        from lifecycle.models import TransitionLog
        from lifecycle.webhooks import receivers

        post_save.connect(receivers.on_transition_logged, sender=TransitionLog, dispatch_uid="webhooks.transitions")
        post_save.connect(receivers.on_alert_saved, sender=Alert, dispatch_uid="webhooks.alerts")
        alerts_auto_resolved.connect(receivers.on_alerts_auto_resolved, dispatch_uid="webhooks.alerts_auto_resolved")
        # asset.moved comes from the location outbox consumer (lifecycle.outbox), not from a signal.
