from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Sign-in and API tokens")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The imports below sit in ready() on purpose: it runs once every app's models are loaded (PLC0415 is
        # ignored for apps.py in pyproject.toml).
        from accounts import signals  # noqa: F401  (sign-in events, WebSocket closing)
        from accounts.services import request_signin_is_fresh
        from config.access import bind_fresh_signin_check

        # Sign-offs and decommissioning need a fresh sign-in at every door (config.access.fresh_signin_check).
        bind_fresh_signin_check(request_signin_is_fresh)
