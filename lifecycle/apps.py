from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LifecycleConfig(AppConfig):
    verbose_name = _("Lifecycle: states, roles and decommissioning")
    name = "lifecycle"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The imports below sit in ready() on purpose: it runs once every app's models are loaded (PLC0415 is
        # ignored for apps.py in pyproject.toml).
        from lifecycle.guards import bind_guards

        bind_guards()  # the state machine's named guards (declarations/guards.py) get their checks

        from lifecycle.receivers import on_room_changes_committed
        from locations.signals import room_changes_committed

        room_changes_committed.connect(on_room_changes_committed, dispatch_uid="lifecycle.room_type_rules")

        from lifecycle.outbox import location_outbox_drain
        from locations.outbox import register_consumer

        register_consumer(location_outbox_drain)

        from lifecycle import audit

        audit.connect()  # role membership and API tokens in the change history
