from django.apps import AppConfig


class LocationsConfig(AppConfig):
    verbose_name = "Locations: sites, floors, rooms and receivers"
    name = "locations"
    default_auto_field = "django.db.models.BigAutoField"
