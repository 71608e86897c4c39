from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DecommissioningConfig(AppConfig):
    name = "lifecycle.decommissioning"
    label = "decommissioning"
    verbose_name = _("Decommissioning: checklist, sign-offs and certificates")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The imports below sit in ready() on purpose: it runs once every app's models are loaded (PLC0415 is
        # ignored for apps.py in pyproject.toml).
        from declarations.guards import DECOMMISSION_READY
        from lifecycle.decommissioning.selectors import decommission_not_ready
        from lifecycle.decommissioning.services import on_transition_applied
        from lifecycle.signals import transition_applied

        DECOMMISSION_READY.bind(decommission_not_ready)  # the state machine's guard of `decommission`

        transition_applied.connect(on_transition_applied, dispatch_uid="decommissioning.certificate")
