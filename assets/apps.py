from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssetsConfig(AppConfig):
    verbose_name = _("Assets and tags")
    name = "assets"
    default_auto_field = "django.db.models.BigAutoField"
