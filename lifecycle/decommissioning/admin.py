"""Basic admin for decommissioning: the checklist (custody entries, sign-offs and history inline),
plus sign-off, tag-detach and decommission pages. Every change goes through the services, so the
admin gets the same locks, version bumps and refusals as any other caller.

Clinical engineering and Security staff (and superusers) may use it; nobody may delete anything.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.admin_site import fresh_signin_or_redirect
from assets.models import Asset
from declarations.states import AssetState
from lifecycle.dashboard import checklists_awaiting_sign_off
from lifecycle.decommissioning import selectors, services
from lifecycle.decommissioning.models import (
    ChecklistRevision,
    CustodyEntry,
    DecommissioningCertificate,
    DecommissioningChecklist,
    SignOff,
)
from lifecycle.exceptions import LifecycleError


def _may_work_on_checklists(request) -> bool:
    # Asked for every page's sidebar, several times per model: look the roles up once per request.
    if not hasattr(request, "_may_work_on_checklists"):
        request._may_work_on_checklists = selectors.user_can_edit_checklist(request.user)
    return request._may_work_on_checklists


class RoleAccessMixin:
    """Access by role (declarations/roles.py) instead of per-model permissions; never delete."""

    def has_module_permission(self, request):
        return _may_work_on_checklists(request)

    def has_view_permission(self, request, obj=None):
        return _may_work_on_checklists(request)

    def has_add_permission(self, request, obj=None):
        return _may_work_on_checklists(request)

    def has_change_permission(self, request, obj=None):
        return _may_work_on_checklists(request)

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyMixin(RoleAccessMixin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CustodyEntryInline(ReadOnlyMixin, admin.TabularInline):
    model = CustodyEntry
    extra = 0
    verbose_name_plural = "chain of custody (entries are never edited: a correction is a new entry)"
    fields = ["position", "from_party", "to_party", "transferred_at", "place", "container_or_seal_id", "note"]
    readonly_fields = fields


class NewCustodyEntryInline(RoleAccessMixin, admin.TabularInline):
    model = CustodyEntry
    extra = 1
    verbose_name_plural = "add a hand-over to the chain of custody"
    fields = ["from_party", "to_party", "transferred_at", "place", "container_or_seal_id", "note"]

    def get_queryset(self, request):
        return super().get_queryset(request).none()

    def has_change_permission(self, request, obj=None):
        # An add-only inline: the formset needs "change" to render, but it never lists existing rows.
        return super().has_change_permission(request, obj) and (obj is None or obj.asset.state == AssetState.BIOMED)

    def has_add_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


class SignOffInline(ReadOnlyMixin, admin.TabularInline):
    model = SignOff
    extra = 0
    fields = ["role", "signed_by", "signed_at", "checklist_version", "validity"]
    readonly_fields = fields

    @admin.display(description=_("valid?"))
    def validity(self, obj):
        reason = selectors.sign_off_void_reason(obj.checklist, obj)
        if reason is None:
            return pgettext_lazy("sign-off", "valid")
        return _("void: %(reason)s") % {"reason": reason}


def _html(template, **values) -> str:
    """A translated ``%(name)s`` template filled with escaped values (or already-safe HTML), as safe HTML."""
    return mark_safe(template % {name: conditional_escape(value) for name, value in values.items()})  # noqa: S308


class RevisionInline(ReadOnlyMixin, admin.TabularInline):
    model = ChecklistRevision
    extra = 0
    classes = ["collapse"]
    verbose_name_plural = _("change history")
    fields = ["version", "action", "changed_by", "changed_at", "changed_fields"]
    readonly_fields = fields


class ChecklistForm(forms.ModelForm):
    """Edits the checklist. The checks here give a form error up front; the service repeats them under lock."""

    seen_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = DecommissioningChecklist
        fields = list(selectors.EDITABLE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "seen_version" in self.fields:  # not on the read-only page of a retired asset
            self.fields["seen_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        asset = self.instance.asset
        if asset.state != AssetState.BIOMED:
            raise forms.ValidationError(
                _("%(asset)s is %(state)s: the checklist can only change while it is in biomed.")
                % {"asset": asset, "state": asset.get_state_display().lower()}
            )
        current = DecommissioningChecklist.objects.values_list("version", flat=True).get(pk=self.instance.pk)
        if cleaned.get("seen_version") not in (None, current):
            raise forms.ValidationError(
                _(
                    "Somebody changed the checklist while you were editing it (you had version %(yours)s, now "
                    "%(now)s). Reload the page and review their changes."
                )
                % {"yours": cleaned["seen_version"], "now": current}
            )
        return cleaned


class OpenChecklistForm(forms.ModelForm):
    """Opening a checklist only picks the asset; the answers start from the asset record."""

    class Meta:
        model = DecommissioningChecklist
        fields = ["asset"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].queryset = Asset.objects.filter(
            state=AssetState.BIOMED, decommissioning_checklist__isnull=True
        )
        self.fields["asset"].help_text = _("Assets in biomed without a checklist.")

    def _post_clean(self):
        pass  # the service builds and validates the row


class AwaitingSignOffFilter(admin.SimpleListFilter):
    """Checklists this user could sign now (lifecycle.dashboard.checklists_awaiting_sign_off)."""

    title = _("sign-off")
    parameter_name = "awaiting"

    def lookups(self, request, model_admin):
        return [("me", _("Waiting for my sign-off")), ("open", _("Asset still in biomed"))]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(pk__in=[c.pk for c in checklists_awaiting_sign_off(user=request.user)])
        if self.value() == "open":
            return queryset.filter(asset__state=AssetState.BIOMED)
        return queryset


def sign_off_roles_open_to(user, checklist: DecommissioningChecklist) -> list:
    """The sign-off roles this user could give now: held, without a valid sign-off, and the user has no valid
    sign-off in the other role. A void one (a newer version, or what it signed changed since) leaves its
    role open (selectors.sign_off_roles_open). The service decides; this picks the buttons."""
    return selectors.sign_off_roles_open(user, checklist)


@admin.register(DecommissioningChecklist)
class DecommissioningChecklistAdmin(RoleAccessMixin, admin.ModelAdmin):
    form = ChecklistForm
    list_display = ["asset", "asset_state", "version", "sign_off_status", "ready", "opened_at"]
    list_filter = [AwaitingSignOffFilter]
    list_select_related = ["asset"]
    search_fields = ["asset__asset_tag", "asset__serial_number"]
    readonly_fields = [
        "version",
        "sign_offs_panel",
        "blockers",
        "tag_detached",
        "detached_tag_id",
        "tag_detached_at",
        "tag_detached_by",
        "opened_at",
        "opened_by",
        "updated_at",
        "certificate_link",
    ]
    inlines = [CustodyEntryInline, NewCustodyEntryInline, SignOffInline, RevisionInline]
    change_form_template = "admin/decommissioning/decommissioningchecklist/change_form.html"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = OpenChecklistForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["asset"]})]
        return [
            (
                None,
                {
                    "fields": ["asset", "version", "sign_offs_panel", "blockers", "certificate_link"]
                    # The version the editor saw, posted back to catch concurrent edits; none once read-only.
                    + (["seen_version"] if obj.asset.state == AssetState.BIOMED else [])
                },
            ),
            (
                "1. Stored data",
                {
                    "fields": [
                        "data_bearing",
                        "data_bearing_note",
                        ("encryption_status", "encryption_status_confirmed"),
                        "sanitization_method",
                        "sanitization_tool",
                        "sanitization_verification",
                        ("sanitized_by", "sanitized_by_name"),
                        "sanitized_on",
                    ]
                },
            ),
            (
                "2. Network access",
                {
                    "fields": [
                        "networked",
                        "networked_note",
                        "network_credentials_revoked",
                        "network_certificates_revoked",
                        "network_allowlists_removed",
                        "network_revocation_details",
                    ]
                },
            ),
            (
                "3. RTLS tag (use the “Detach RTLS tag” button)",
                {"fields": ["tag_detached", "detached_tag_id", "tag_detached_at", "tag_detached_by"]},
            ),
            (
                "4. Final disposition",
                {"fields": ["final_disposition", "disposition_recipient", "disposition_reference"]},
            ),
            ("Record", {"fields": ["opened_at", "opened_by", "updated_at"], "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fields = [*self.readonly_fields, "asset"]
        if obj.asset.state != AssetState.BIOMED:
            fields += list(selectors.EDITABLE_FIELDS)
        return fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        checklist = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if checklist is not None:
            extra_context["sign_off_roles"] = sign_off_roles_open_to(request.user, checklist)
            extra_context["can_decommission"] = not selectors.decommission_blockers(checklist.asset)
        return super().change_view(request, object_id, form_url, extra_context)

    # Columns and read-only displays ---------------------------------------------------------

    @admin.display(description=_("asset state"))
    def asset_state(self, obj):
        return obj.asset.get_state_display()

    @admin.display(description=_("sign-offs"))
    def sign_off_status(self, obj):
        valid = selectors.valid_sign_offs(obj)
        return ", ".join(f"{s.get_role_display()}: {selectors.person_label(s.signed_by)}" for s in valid) or "—"

    @admin.display(description=_("sign-offs"))
    def sign_offs_panel(self, obj):
        """Per role: who signed which version, and whether that sign-off still holds."""
        rows = []
        for role, sign_off in selectors.latest_sign_offs(obj).items():
            if sign_off is None:
                rows.append(
                    format_html(
                        '<li class="sign-off missing">{}: <strong>{}</strong></li>', role.label, _("not signed")
                    )
                )
            elif (reason := selectors.sign_off_void_reason(obj, sign_off)) is None:
                rows.append(
                    format_html(
                        '<li class="sign-off valid">{} — <strong style="color:#1a7f37">✓ {}</strong></li>',
                        _html(
                            _("%(role)s: signed by %(who)s at %(at)s for version %(version)s"),
                            role=role.label,
                            who=format_html("<strong>{}</strong>", selectors.person_label(sign_off.signed_by)),
                            at=timezone.localtime(sign_off.signed_at).strftime("%Y-%m-%d %H:%M"),
                            version=sign_off.checklist_version,
                        ),
                        pgettext_lazy("sign-off", "valid"),
                    )
                )
            else:
                rows.append(
                    format_html(
                        '<li class="sign-off void">{} — <strong style="color:#b91c1c">✗ {}</strong>: {}</li>',
                        _("%(role)s: signed by %(who)s for version %(version)s")
                        % {
                            "role": role.label,
                            "who": selectors.person_label(sign_off.signed_by),
                            "version": sign_off.checklist_version,
                        },
                        pgettext_lazy("sign-off", "void"),
                        reason,
                    )
                )
        return format_html('<ul class="sign-offs">{}</ul>', format_html_join("", "{}", ((row,) for row in rows)))

    @admin.display(description=_("ready to decommission"), boolean=True)
    def ready(self, obj):
        return not selectors.decommission_blockers(obj.asset)

    @admin.display(description=_("what is still missing"))
    def blockers(self, obj):
        items = selectors.decommission_blockers(obj.asset)
        if not items:
            return _("Nothing: complete, with both sign-offs valid.")
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((item,) for item in items)))

    @admin.display(description=_("certificate"))
    def certificate_link(self, obj):
        certificate = selectors.certificate_for_asset(obj.asset)
        if certificate is None:
            return "—"
        url = reverse("decommissioning:certificate-detail", args=[certificate.pk])
        return format_html('<a href="{}">{}</a>', url, _("Certificate %(id)s") % {"id": certificate.pk})

    # Saving through the services -------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        try:
            if change:
                data = form.cleaned_data
                changes = {name: data[name] for name in form.changed_data if name in selectors.EDITABLE_FIELDS}
                checklist = services.checklist_update(
                    checklist=obj, user=request.user, changes=changes, expected_version=data.get("seen_version")
                )
            else:
                checklist = services.checklist_open(asset=form.cleaned_data["asset"], user=request.user)
        except LifecycleError as exc:
            # Only a change committed between the form's checks and this save gets here.
            request._decommissioning_refused = True
            messages.error(request, _("Not saved: %(reason)s") % {"reason": exc.message})
            if change:
                obj.refresh_from_db()
            return
        obj.pk, obj.asset, obj.version = checklist.pk, checklist.asset, checklist.version
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            # The admin's change message reads these; only new custody entries are ever saved.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if formset.model is not CustodyEntry or getattr(request, "_decommissioning_refused", False):
                continue
            for entry in formset.save(commit=False):
                try:
                    services.custody_entry_add(
                        checklist=form.instance,
                        user=request.user,
                        from_party=entry.from_party,
                        to_party=entry.to_party,
                        transferred_at=entry.transferred_at,
                        place=entry.place,
                        container_or_seal_id=entry.container_or_seal_id,
                        note=entry.note,
                    )
                except LifecycleError as exc:
                    messages.error(request, _("Custody entry not added: %(reason)s") % {"reason": exc.message})

    # Sign-off, tag detach and decommission pages ---------------------------------------------

    def get_urls(self):
        own = [
            path("<int:pk>/sign-off/", self.admin_site.admin_view(self.sign_off_view), name="decommissioning_sign_off"),
            path(
                "<int:pk>/detach-tag/",
                self.admin_site.admin_view(self.detach_tag_view),
                name="decommissioning_detach_tag",
            ),
            path(
                "<int:pk>/decommission/",
                self.admin_site.admin_view(self.decommission_view),
                name="decommissioning_decommission",
            ),
        ]
        return own + super().get_urls()

    def _checklist(self, request, pk) -> DecommissioningChecklist:
        if not selectors.user_can_edit_checklist(request.user):
            raise PermissionDenied
        return get_object_or_404(DecommissioningChecklist.objects.select_related("asset"), pk=pk)

    def _change_url(self, checklist):
        return reverse("admin:decommissioning_decommissioningchecklist_change", args=[checklist.pk])

    def sign_off_view(self, request, pk):
        checklist = self._checklist(request, pk)
        if stale := fresh_signin_or_redirect(request):  # a sign-in at most FRESH_SIGNIN_MINUTES old
            return stale
        if request.method == "POST":
            try:
                sign_off = services.checklist_sign_off(
                    checklist=checklist,
                    user=request.user,
                    role=request.POST.get("role", ""),
                    version=int(request.POST.get("version", "0") or 0),
                )
                messages.success(
                    request,
                    _("%(role)s sign-off recorded for version %(version)s.")
                    % {"role": sign_off.get_role_display(), "version": sign_off.checklist_version},
                )
                return HttpResponseRedirect(self._change_url(checklist))
            except (LifecycleError, ValueError) as exc:
                messages.error(request, _("Sign-off refused: %(reason)s") % {"reason": getattr(exc, "message", exc)})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Sign off the decommissioning of %(asset)s") % {"asset": checklist.asset},
            "checklist": checklist,
            "snapshot": selectors.checklist_snapshot(checklist),
            "identity": selectors.asset_identity(checklist.asset),
            "missing": selectors.checklist_missing_items(checklist),
            # Only the signer's own, still-open roles: a sign-off button for somebody else's role is never shown.
            "roles": sign_off_roles_open_to(request.user, checklist),
            "selected_role": request.GET.get("role", ""),
            "valid_sign_offs": selectors.valid_sign_offs(checklist),
            "change_url": self._change_url(checklist),
        }
        return TemplateResponse(request, "admin/decommissioning/sign_off.html", context)

    def detach_tag_view(self, request, pk):
        checklist = self._checklist(request, pk)
        if request.method == "POST":
            try:
                checklist = services.checklist_record_tag_detached(checklist=checklist, user=request.user)
                messages.success(
                    request,
                    _("RTLS tag detachment recorded (checklist version %(version)s).") % {"version": checklist.version},
                )
            except LifecycleError as exc:
                messages.error(request, _("Not recorded: %(reason)s") % {"reason": exc.message})
        return HttpResponseRedirect(self._change_url(checklist))

    def decommission_view(self, request, pk):
        checklist = self._checklist(request, pk)
        if request.method == "POST" and (stale := fresh_signin_or_redirect(request)):
            return stale
        if request.method == "POST":
            try:
                certificate = services.asset_decommission(
                    asset=checklist.asset, user=request.user, note=request.POST.get("note", "")
                )
                messages.success(
                    request,
                    _("%(asset)s is decommissioned; certificate %(id)s issued.")
                    % {"asset": checklist.asset, "id": certificate.pk},
                )
                return HttpResponseRedirect(reverse("decommissioning:certificate-detail", args=[certificate.pk]))
            except LifecycleError as exc:
                messages.error(request, _("Not decommissioned: %(reason)s") % {"reason": exc.message})
        return HttpResponseRedirect(self._change_url(checklist))


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["checklist", "role", "signed_by", "signed_at", "checklist_version", "valid"]
    list_filter = ["role"]
    list_select_related = ["checklist__asset", "signed_by"]
    search_fields = ["checklist__asset__asset_tag", "signed_by__username"]

    @admin.display(description=_("valid?"), boolean=True)
    def valid(self, obj):
        return selectors.sign_off_void_reason(obj.checklist, obj) is None


@admin.register(DecommissioningCertificate)
class DecommissioningCertificateAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "asset", "issued_at", "issued_by", "printable"]
    list_select_related = ["asset", "issued_by"]
    search_fields = ["asset__asset_tag", "asset__serial_number"]
    fields = ["id", "asset", "checklist", "issued_at", "issued_by", "content_sha256", "printable", "content_json"]
    readonly_fields = fields

    @admin.display(description=_("printable certificate"))
    def printable(self, obj):
        url = reverse("decommissioning:certificate-detail", args=[obj.pk])
        json_url = reverse("decommissioning:certificate-json", args=[obj.pk])
        return format_html('<a href="{}">Open printable page</a> · <a href="{}">JSON</a>', url, json_url)
