"""Admin for sites, floors, rooms and receivers, the floor-plan import (with preview), and issuing
gateway tokens (the raw token is shown once). Imports and tokens go through locations.services and
locations.ingest.auth, the same code as the management commands."""

import tempfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, Value, When
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from assets import admin_imports
from assets.filters import BuildingFloorFilter
from lifecycle.alerts.selectors import receivers_silent_in_alert
from locations.ingest.auth import GatewayTokenError, gateway_token_issue, gateway_token_revoke
from locations.models import Building, Floor, GatewayToken, Receiver, Room, RoomInterval, Site
from locations.services import FloorplanImportError, floorplan_import, load_floorplan_files


class FloorFilter(BuildingFloorFilter):
    floor_path = "floor"


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]
    readonly_fields = ["radio_path_loss_exponent", "radio_wall_loss_db"]


@admin.register(Building)
class BuildingAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "site"]
    list_filter = ["site"]
    list_select_related = ["site"]
    search_fields = ["code", "name"]


IMPORT_PERMISSIONS = [
    f"locations.{action}_{model}"
    for model in ("site", "building", "floor", "room", "receiver")
    for action in ("add", "change")
]


@admin.register(Floor)
class FloorAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "level", "building"]
    list_filter = ["building"]
    list_select_related = ["building"]

    def get_urls(self):
        own = [path("import/", self.admin_site.admin_view(self.import_view), name="locations_floor_import")]
        return own + super().get_urls()

    def has_import_permission(self, request):
        return request.user.has_perms(IMPORT_PERMISSIONS)

    def import_view(self, request):
        """Upload GeoJSON floor plans (one per floor), see what they would change or their errors, confirm."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        accept = ".geojson,.json,application/geo+json,application/json"
        form = admin_imports.UploadForm(multiple=True, accept=accept)
        context = {}
        if request.method == "POST" and request.POST.get("token"):
            uploads = admin_imports.unstash(request, "floorplans", request.POST["token"])
            if uploads is None:
                messages.error(request, _("That preview has expired or was replaced; upload the files again."))
                return HttpResponseRedirect(reverse("admin:locations_floor_import"))
            documents, errors = _documents(uploads)
            try:
                if errors:
                    raise FloorplanImportError(errors)
                result = floorplan_import(documents=documents)
            except FloorplanImportError as exc:
                context.update(errors=exc.errors, file_names=[u.name for u in uploads])
            else:
                admin_imports.forget(request)
                messages.success(
                    request,
                    _("Imported %(floors)s floor(s): rooms %(rooms)s; receivers %(receivers)s.")
                    % {"floors": len(result.floors), "rooms": result.rooms, "receivers": result.receivers},
                )
                return HttpResponseRedirect(reverse("admin:locations_floor_changelist"))
        elif request.method == "POST":
            form = admin_imports.UploadForm(request.POST, request.FILES, multiple=True, accept=accept)
            if form.is_valid():
                uploads = form.cleaned_data["files"]
                context["file_names"] = [u.name for u in uploads]
                documents, errors = _documents(uploads)
                try:
                    if errors:
                        raise FloorplanImportError(errors)
                    result = floorplan_import(documents=documents, dry_run=True)
                except FloorplanImportError as exc:
                    context["errors"] = exc.errors
                else:
                    context["summary"] = [
                        ("floors", ", ".join(result.floors)),
                        ("rooms", str(result.rooms)),
                        ("receivers", str(result.receivers)),
                    ]
                    context["token"] = admin_imports.stash(request, "floorplans", uploads)
        return TemplateResponse(
            request,
            "admin/import_preview.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": _("Import floor plans from GeoJSON"),
                "form": form,
                "changelist_url": reverse("admin:locations_floor_changelist"),
                "help": (
                    "One GeoJSON FeatureCollection per floor, in metres, with the collection properties "
                    "site, building, floor and level; rooms are Polygons (kind room: code, name, room_type, unit) "
                    "and receivers Points (kind receiver: id, rssi_at_1m). Rooms are matched by code and receivers "
                    "by id: importing the same files again changes nothing. Any error imports nothing."
                ),
                **context,
            },
            status=400 if context.get("errors") else 200,
        )


def _documents(uploads) -> tuple[list[tuple[str, object]], list[str]]:
    """Parse uploads with the command's own reader (load_floorplan_files), under their original names."""
    with tempfile.TemporaryDirectory(prefix="floorplans-") as folder:
        paths = []
        for index, upload in enumerate(uploads):
            name = Path(upload.name).name or f"upload-{index}.geojson"
            target = Path(folder) / str(index) / name
            target.parent.mkdir()
            target.write_bytes(upload.data)
            paths.append(target)
        return load_floorplan_files(paths)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "room_type", "unit", "floor", "area_m2"]
    list_filter = ["room_type", FloorFilter, "unit"]
    list_select_related = ["floor__building"]
    search_fields = ["code", "name", "unit"]
    readonly_fields = ["site", "centroid_x", "centroid_y", "area_m2"]


class HeardFilter(admin.SimpleListFilter):
    title = _("heard")
    parameter_name = "heard"

    def lookups(self, request, model_admin):
        return [("silent", "Silent (active, not heard lately)"), ("never", "Never heard"), ("ok", "Heard lately")]

    def queryset(self, request, queryset):
        silent = receivers_silent_in_alert().values("pk")
        if self.value() == "silent":
            return queryset.filter(pk__in=silent)
        if self.value() == "never":
            return queryset.filter(last_heard__isnull=True)
        if self.value() == "ok":
            return queryset.filter(last_heard__isnull=False).exclude(pk__in=silent)
        return queryset


class IssueTokenForm(forms.Form):
    gateway = forms.ModelChoiceField(
        queryset=Receiver.objects.order_by("gateway_id"),
        required=False,
        to_field_name="gateway_id",
        help_text="A token for this one gateway.",
    )
    site = forms.ModelChoiceField(
        queryset=Site.objects.order_by("code"),
        required=False,
        to_field_name="code",
        help_text="Or: a site collector token, which may post for any gateway of the site.",
    )
    label = forms.CharField(required=False, max_length=200, help_text="A note, e.g. where the gateway hangs.")

    def clean(self):
        data = super().clean()
        if bool(data.get("gateway")) == bool(data.get("site")):
            raise forms.ValidationError("Choose a gateway or a site (one of them).")
        return data


@admin.register(Receiver)
class ReceiverAdmin(admin.ModelAdmin):
    list_display = ["gateway_id", "floor", "room", "rssi_at_1m", "active", "heard", "clock"]
    list_filter = [HeardFilter, "active", FloorFilter]
    readonly_fields = ["clock_offset_s", "clock_pairs", "clock_estimated_at", "calibration_db", "detection_floor_dbm"]
    list_select_related = ["floor__building", "room"]
    search_fields = ["gateway_id"]
    raw_id_fields = ["room"]
    ordering = ["gateway_id"]

    def get_queryset(self, request):
        # "Silent" is the alerts' definition (receivers_silent_in_alert), computed in the list query.
        silent = receivers_silent_in_alert().values("pk")
        return (
            super()
            .get_queryset(request)
            .annotate(
                silent=Case(When(pk__in=silent, then=Value(True)), default=Value(False), output_field=BooleanField())
            )
        )

    @admin.display(description=_("last heard"), ordering="last_heard")
    def heard(self, obj):
        if obj.last_heard is None:
            return "never"
        local = timezone.localtime(obj.last_heard)
        ago = f"{timesince(local, depth=1)} ago"
        if getattr(obj, "silent", False):
            return format_html(
                '<strong class="receiver-silent" style="color:#fff;background:#b91c1c;padding:1px 6px;'
                'border-radius:4px" title="{}">⚠ silent: {}</strong>',
                local.strftime("%Y-%m-%d %H:%M:%S"),
                ago,
            )
        return format_html('<span title="{}">{}</span>', local.strftime("%Y-%m-%d %H:%M:%S"), ago)

    @admin.display(description=_("clock offset"), ordering="clock_offset_s")
    def clock(self, obj):
        """The engine's estimate of the gateway's clock against the others; red past the alert limit."""
        if obj.clock_offset_s is None:
            return "not estimated"
        text = f"{obj.clock_offset_s * 1000:+.0f} ms"
        if abs(obj.clock_offset_s) > settings.GATEWAY_CLOCK_ALERT_SECONDS:
            return format_html(
                '<strong class="receiver-clock-off" style="color:#fff;background:#b91c1c;padding:1px 6px;'
                'border-radius:4px" title="{} matched pings">⚠ {}</strong>',
                obj.clock_pairs,
                text,
            )
        return format_html('<span title="{} matched pings">{}</span>', obj.clock_pairs, text)

    def get_urls(self):
        own = [
            path(
                "issue-token/",
                self.admin_site.admin_view(self.issue_token_view),
                name="locations_gatewaytoken_issue",
            )
        ]
        return own + super().get_urls()

    def issue_token_view(self, request):
        """Issue a gateway token (locations.ingest.auth.gateway_token_issue) and show it once."""
        if not request.user.has_perm("locations.add_gatewaytoken"):
            raise PermissionDenied
        issued = None
        if request.method == "POST":
            form = IssueTokenForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    issued = gateway_token_issue(
                        user=request.user,
                        gateway_id=data["gateway"].gateway_id if data["gateway"] else None,
                        site=data["site"].code if data["site"] else None,
                        label=data["label"],
                    )
                except GatewayTokenError as exc:
                    form.add_error(None, str(exc))
        else:
            form = IssueTokenForm(initial={"gateway": request.GET.get("gateway"), "site": request.GET.get("site")})
        response = TemplateResponse(
            request,
            "admin/locations/gatewaytoken/issue.html",
            {
                **self.admin_site.each_context(request),
                "opts": GatewayToken._meta,
                "title": "Issue a gateway token",
                "form": form,
                "issued": issued,
                "tokens_url": reverse("admin:locations_gatewaytoken_changelist"),
            },
        )
        response["Cache-Control"] = "no-store"  # the raw token must not linger in a cache
        return response


# --- Gateway tokens (locations/ingest/auth.py) ---------------------------------------------------


@admin.register(GatewayToken)
class GatewayTokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `manage.py issue_gateway_token` (the raw token is shown once, there);
    here they are listed and revoked. A revoked token is kept for the record, never deleted."""

    list_display = ["key", "receiver", "site", "label", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "site"]
    list_select_related = ["receiver", "site"]
    search_fields = ["key", "label", "receiver__gateway_id", "site__code"]
    readonly_fields = ["key", "receiver", "site", "created_at", "last_used_at", "revoked_at"]
    fields = ["key", "receiver", "site", "label", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Revoke the selected gateway tokens"), permissions=["change"])
    def revoke(self, request, queryset):
        revoked = sum(gateway_token_revoke(token=token, user=request.user) for token in queryset)
        self.message_user(
            request, _("Revoked %(count)s token(s); gateways using them now get 401.") % {"count": revoked}
        )


# --- Location history (written by locations/pipeline.py) -------------------------------------------


@admin.register(RoomInterval)
class RoomIntervalAdmin(admin.ModelAdmin):
    """Where each asset has been. Written only by the location pipeline: read-only here."""

    list_display = ["asset", "room", "entered_at", "left_at"]
    list_filter = [("left_at", admin.EmptyFieldListFilter), "room__floor__building", "room__floor", "room__room_type"]
    list_select_related = ["asset", "room__floor__building"]
    search_fields = ["asset__asset_tag", "room__code"]
    date_hierarchy = "entered_at"
    raw_id_fields = ["asset", "room"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
