from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LocationsConfig(AppConfig):
    verbose_name = _("Locations: sites, floors, rooms and receivers")
    name = "locations"
    default_auto_field = "django.db.models.BigAutoField"
