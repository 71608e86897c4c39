from django.contrib.admin.apps import AdminConfig


class HospitalAdminConfig(AdminConfig):
    """django.contrib.admin with our site: TOTP at sign-in, and the fresh sign-in page (accounts/admin_site.py)."""

    default_site = "accounts.admin_site.HospitalAdminSite"
