"""API tokens in the admin: issue (the token is shown once, on the page that follows), rotate, revoke.

The old "Auth Token" admin of rest_framework.authtoken is removed: those tokens were stored in plain text and
no longer authenticate (accounts/migrations/0002 moved them over, hashed).
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import services
from accounts.models import ApiToken, ApiTokenKind

try:
    from rest_framework.authtoken.models import TokenProxy

    admin.site.unregister(TokenProxy)
except (ImportError, admin.sites.NotRegistered):
    pass


class ApiTokenIssueForm(forms.ModelForm):
    days = forms.IntegerField(
        min_value=1, max_value=366, initial=None, required=False, help_text="Days until it expires (default: setting)."
    )

    class Meta:
        model = ApiToken
        fields = ["user", "label"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["key", "user", "kind", "label", "status", "created_at", "expires_at", "last_used_at"]
    list_filter = ["kind", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["user__username", "key", "label"]
    readonly_fields = [
        "user",
        "key",
        "kind",
        "label",
        "status",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "issued_by",
    ]
    fields = readonly_fields
    actions = ["revoke_tokens", "rotate_tokens"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenIssueForm
            kwargs["fields"] = ["user", "label", "days"]
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["user", "label", "days"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row is the record of who had access

    def save_model(self, request, obj, form, change):
        if change:
            return
        days = form.cleaned_data.get("days")
        issued = services.api_token_issue(
            user=form.cleaned_data["user"],
            label=form.cleaned_data.get("label", ""),
            lifetime=timedelta(days=days) if days else None,
            issued_by=request.user,
        )
        obj.pk = issued.token.pk
        obj.__dict__.update({f.attname: getattr(issued.token, f.attname) for f in ApiToken._meta.concrete_fields})
        obj._raw = issued.raw

    def response_add(self, request, obj, post_url_continue=None):
        return self._show_once(request, [(obj, obj._raw)])

    def _show_once(self, request, issued):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API token issued: copy it now",
            "issued": issued,
        }
        response = TemplateResponse(request, "admin/accounts/apitoken/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke_tokens(self, request, queryset):
        count = sum(services.api_token_revoke(token=token, by=request.user) for token in queryset)
        messages.success(
            request, ngettext("%(count)s token revoked.", "%(count)s tokens revoked.", count) % {"count": count}
        )

    @admin.action(description=_("Rotate: revoke the users' long-lived tokens and issue each a new one"))
    def rotate_tokens(self, request, queryset):
        users = {token.user for token in queryset.filter(kind=ApiTokenKind.API).select_related("user")}
        issued = []
        for user in sorted(users, key=lambda u: u.username):
            if not user.is_active:
                continue
            new = services.api_token_rotate(user=user, label="rotated in the admin", issued_by=request.user)
            issued.append((new.token, new.raw))
        if not issued:
            messages.warning(request, _("No active user's long-lived token was selected."))
            return None
        return self._show_once(request, issued)
