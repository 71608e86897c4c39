"""The admin site: TOTP at sign-in for the roles that need it, and the fresh sign-in page.

Users who need two-factor sign-in (accounts.services.otp_required) reach the admin only with a session
verified by their authenticator; other staff sign in with their password as before.
"""

import functools
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from accounts import services
from accounts.forms import AdminSignInForm, ReauthForm


def _is_verified(user) -> bool:
    check = getattr(user, "is_verified", None)
    return bool(check and check())


class HospitalAdminSite(admin.AdminSite):
    login_form = AdminSignInForm
    login_template = "admin/signin_login.html"

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        required = getattr(request, "_otp_required", None)
        if required is None:
            required = request._otp_required = services.otp_required(request.user)
        return _is_verified(request.user) if required else True

    def get_urls(self):
        return [path("reauth/", self.admin_view(self.reauth_view), name="reauth")] + super().get_urls()

    def admin_view(self, view, cacheable=False):
        """Every admin page (ModelAdmin views are wrapped here too) refuses a NUL character in its query string
        with a 400: a list filter or lookup on a text field (``/admin/locations/room/?unit=%00``) would hand
        it to PostgreSQL, which stores no NUL in text and fails the page with a 500. Forms refuse NUL already
        (Django's CharField)."""
        wrapped = super().admin_view(view, cacheable)

        @functools.wraps(wrapped)
        def refuse_nul(request, *args, **kwargs):
            if any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
                return HttpResponseBadRequest(
                    _("The address contains a NUL character; remove it and try again."),
                    content_type="text/plain; charset=utf-8",
                )
            return wrapped(request, *args, **kwargs)

        return refuse_nul

    def reauth_view(self, request):
        target = request.POST.get("next") or request.GET.get("next") or reverse("admin:index")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:index")
        form = ReauthForm(request, data=request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            messages.success(request, _("Signed in again: you can sign off and decommission for the next minutes."))
            return redirect(target)
        context = {
            **self.each_context(request),
            "title": _("Confirm it is you"),
            "form": form,
            "next": target,
            "needs_code": services.otp_required(request.user) or bool(services.totp_devices(request.user)),
        }
        return TemplateResponse(request, "admin/signin_reauth.html", context)


def fresh_signin_or_redirect(request):
    """None when the session signed in recently enough (FRESH_SIGNIN_MINUTES); else a redirect to the admin's
    fresh sign-in page, which comes back here. For checklist sign-off and decommissioning."""
    if services.session_signin_is_fresh(request):
        return None
    services.security_event("admin.fresh_signin_required", username=request.user.get_username(), path=request.path)
    messages.warning(request, _("Signing off and decommissioning need a fresh sign-in: enter your password again."))
    return redirect(f"{reverse('admin:reauth')}?{urlencode({'next': request.get_full_path()})}")
