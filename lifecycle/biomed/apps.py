from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BiomedConfig(AppConfig):
    verbose_name = _("Biomed: maintenance schedules, loans and reports")
    name = "lifecycle.biomed"
    label = "biomed"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The imports below sit in ready() on purpose: it runs once every app's models are loaded (PLC0415 is
        # ignored for apps.py in pyproject.toml).
        # A new asset gets the schedules of its type and model at once (bulk imports call
        # services.schedules_materialise themselves: bulk_create sends no post_save).
        from django.db.models.signals import post_save

        from assets.models import Asset, AssetType
        from lifecycle.biomed import receivers

        post_save.connect(receivers.on_asset_saved, sender=Asset, dispatch_uid="biomed.asset_saved")
        post_save.connect(receivers.on_asset_type_saved, sender=AssetType, dispatch_uid="biomed.asset_type_saved")

        from lifecycle.biomed.services import work_order_closed_done
        from lifecycle.signals import work_order_done

        work_order_done.connect(work_order_closed_done, dispatch_uid="biomed.work_order_done")
