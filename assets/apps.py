from django.apps import AppConfig


class AssetsConfig(AppConfig):
    verbose_name = "Assets and tags"
    name = "assets"
    default_auto_field = "django.db.models.BigAutoField"
