"""The asset admin: the list biomed works from, the asset page with its transitions and panels, tag
binding, the CSV import with preview and the CSV export of any filtered list.

Every change goes through a service (lifecycle.services.asset_transition, the decommissioning
service, assets.services tag_bind / tag_unbind, lifecycle.asset_import.assets_import, lifecycle work orders), so the
admin gets the same locks, role checks, guards and logs as the API and the map.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import fresh_signin_or_redirect
from assets import admin_imports
from assets.filters import (
    PM_DUE_SOON_DAYS,
    AssetBuildingFloorFilter,
    HighRiskFilter,
    LocationStatusFilter,
    OpenRecallFilter,
    OwningUnitFilter,
    PmDueFilter,
    RoomUnitFilter,
    TrackedFilter,
)
from assets.models import Asset, AssetType, Tag, TagBinding
from assets.services import TagBindingError, tag_bind, tag_unbind
from config.access import may, refuse
from config.spreadsheet import safe_cell
from declarations.location_status import LocationStatus
from declarations.policy import TRANSITION_ACTIONS
from declarations.states import AssetState, state_definition
from declarations.tag_ids import TagIdError, format_tag_id, normalize_tag_id
from declarations.transitions import TransitionName
from lifecycle.alerts.selectors import tag_battery_is_low
from lifecycle.asset_import import AssetImportError, assets_import
from lifecycle.biomed.models import MaintenanceSchedule
from lifecycle.biomed.selectors import asset_next_due
from lifecycle.decommissioning import selectors as decommissioning
from lifecycle.decommissioning.services import asset_decommission
from lifecycle.display import state_badge
from lifecycle.exceptions import LifecycleError
from lifecycle.fsm import SYSTEM_TRANSITIONS, asset_transition_options, set_known_state
from lifecycle.history import record_changes, snapshot
from lifecycle.models import OPEN_WORK_ORDER_STATUSES, WorkOrder, WorkOrderKind
from lifecycle.selectors import asset_transition_history
from lifecycle.services import asset_transition, work_order_open
from locations.freshness import asset_location_status, low_battery_threshold, status_annotation, tags_low_battery
from locations.models import RoomInterval

# How a location status looks. Text and icon carry the meaning; the colour only repeats it.
LOCATION_STATUS_LOOK = {
    LocationStatus.LOCATED: ("#1a7f37", "●"),
    LocationStatus.STALE: ("#9a6700", "◐"),
    LocationStatus.MISSING: ("#b91c1c", "○"),
}
PANEL_ROWS = 15  # rows per history panel on the asset page; each panel links to the full list

# Transitions the asset page never offers as a button: the system runs room rules (retiring is a button,
# but it goes through the decommissioning service: it issues the certificate).
NOT_A_BUTTON = SYSTEM_TRANSITIONS


def location_badge(status: str):
    colour, icon = LOCATION_STATUS_LOOK[LocationStatus(status)]
    return format_html(
        '<span class="location-badge location-{}" style="color:{};font-weight:600;white-space:nowrap">'
        '<span aria-hidden="true">{}</span> {}</span>',
        status,
        colour,
        icon,
        LocationStatus(status).label,
    )


def admin_link(obj, text=None):
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


def where_label(asset: Asset) -> str:
    room = asset.current_room
    if room is None:
        return ""
    return f"{room.code} · {room.floor.building.name} · {room.floor.name}"


# Transitions this user may run now ---------------------------------------------------------------


def transition_choices(asset: Asset, user) -> tuple[list[dict], list[dict]]:
    """(runnable, blocked) for the asset page, from lifecycle.fsm.asset_transition_options.

    runnable: the transitions this user may run now (state, roles, guards). blocked: those the user's roles
    allow from this state that a guard refuses now, with the guards' reasons, so the page can say why a
    button is missing.
    """
    runnable, blocked = [], []
    for option in asset_transition_options(user, asset):
        if not option.permitted or option.name in NOT_A_BUTTON:
            continue
        item = {
            "name": option.name,
            "label": option.label,
            "targets": [state_definition(s) for s in option.targets],
            "reason_required": option.needs_note,
        }
        if option.can_run:
            runnable.append(item)
        else:
            blocked.append({**item, "reasons": list(option.blocked_by)})
    return runnable, blocked


# The asset page's read-only panels ------------------------------------------------------------------


def _table(headers, rows, *, empty: str, more_url: str | None = None, total: int = 0):
    if not rows:
        return format_html('<p class="panel-empty">{}</p>', empty)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    more = ""
    if more_url and total > len(rows):
        more = format_html('<p><a href="{}">All {} →</a></p>', more_url, total)
    return format_html(
        '<table class="asset-panel"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>{}', head, body, more
    )


def _when(value):
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html('<span title="{}">{}</span>', local.isoformat(), local.strftime("%Y-%m-%d %H:%M"))


class TagBindingInline(admin.TabularInline):
    model = TagBinding
    fk_name = "asset"
    extra = 0
    can_delete = False
    verbose_name_plural = "tag binding history (use “Bind a tag” / “Unbind tag” above to change it)"
    fields = ["tag", "bound_at", "bound_by", "unbound_at", "unbound_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AssetType)
class AssetTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "high_risk", "life_support", "code", "code_display"]
    list_filter = ["high_risk", "life_support"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "code", "code_display"]
    # default_pm_interval_days is not shown: the type's schedule plans (lifecycle.biomed) replaced it.
    fieldsets = [
        (None, {"fields": ["name", "slug", "high_risk", "life_support"]}),
        ("Coding (FHIR Device.type)", {"fields": ["code_system", "code", "code_display"]}),
    ]


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = [
        "asset_tag",
        "asset_type",
        "model",
        "state_badge",
        "where",
        "location",
        "last_seen_ago",
        "pm_due",
    ]
    list_filter = [
        "state",
        "asset_type",
        AssetBuildingFloorFilter,
        OwningUnitFilter,
        LocationStatusFilter,
        TrackedFilter,
        PmDueFilter,
        OpenRecallFilter,
        RoomUnitFilter,
        HighRiskFilter,
        "risk_class",
        "data_bearing",
        "networked",
        "encryption_status",
        "aem",
    ]
    list_select_related = ["asset_type", "current_room__floor__building"]
    search_fields = ["asset_tag", "serial_number", "model", "tag__tag_id"]
    search_help_text = "Asset tag, serial number, model or tag id (any case, with or without colons)."
    list_per_page = 50
    # The paginator's COUNT of the filtered list is enough; a second COUNT of the whole table is not,
    # and neither are per-choice counts on every filter (facets): at 50,000 assets each is a COUNT.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    exclude = ["state"]  # protected: only lifecycle transitions change it
    readonly_fields = [
        "state_badge",
        "next_pm_due",
        "current_room",
        "location_confidence",
        "located_at",
        "last_seen",
        "created_at",
        "updated_at",
        "checklist_panel",
        "work_orders_panel",
        "transition_log_panel",
        "location_history_panel",
    ]
    fieldsets = [
        (
            None,
            {"fields": ["asset_tag", "asset_type", "manufacturer", "model", "serial_number", "unit", "state_badge"]},
        ),
        (
            "Security",
            {"fields": ["data_bearing", "networked", "encryption_status", "firmware_version", "risk_class"]},
        ),
        ("Classification", {"fields": ["high_risk", "life_support", "aem", "aem_rationale"]}),
        (
            "Maintenance",
            {"fields": ["in_service_date", "purchase_date", "next_pm_due"]},
        ),
        (
            "Location (written by the location engine)",
            {"fields": ["current_room", "location_confidence", "located_at", "last_seen"]},
        ),
        ("Decommissioning checklist", {"fields": ["checklist_panel"]}),
        ("Work orders", {"fields": ["work_orders_panel"]}),
        ("Transition log", {"fields": ["transition_log_panel"]}),
        ("Location history", {"fields": ["location_history_panel"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    inlines = [TagBindingInline]
    actions = ["open_pm_work_orders"]

    def get_queryset(self, request):
        next_due = MaintenanceSchedule.objects.filter(asset=OuterRef("pk"), active=True, next_due__isnull=False)
        return (
            super()
            .get_queryset(request)
            .annotate(
                location_status=status_annotation(),
                next_maintenance_due=Subquery(next_due.order_by("next_due").values("next_due")[:1]),
            )
        )

    def get_object(self, request, object_id, from_field=None):
        asset = super().get_object(request, object_id, from_field)
        if asset is not None:
            asset.viewer = request.user  # the panels offer only the links this user may follow
        return asset

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        try:
            tag_id = normalize_tag_id(term)
        except TagIdError:
            tag_id = None
        if tag_id and any(sep in term for sep in ":-."):
            # Written like a tag id ("C3:00:00:00:01:0A"): one index lookup, not a LIKE over 50,000 rows.
            return queryset.filter(tag__tag_id=tag_id), False
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if tag_id:  # twelve hex digits: maybe a tag id, maybe part of a serial number
            results = results | queryset.filter(tag__tag_id=tag_id)
        return results, may_have_duplicates

    # Columns ----------------------------------------------------------------------------------

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, obj):
        return state_badge(obj.state)

    @admin.display(description=_("room and floor"), ordering="current_room__code")
    def where(self, obj):
        return where_label(obj) or "—"

    @admin.display(description=_("location"), ordering="location_status")
    def location(self, obj):
        status = getattr(obj, "location_status", None) or asset_location_status(asset=obj)
        return location_badge(status)

    @admin.display(description=_("last seen"), ordering="last_seen")
    def last_seen_ago(self, obj):
        if obj.last_seen is None:
            return "never"
        local = timezone.localtime(obj.last_seen)
        return format_html(
            '<span title="{}">{} ago</span>', local.strftime("%Y-%m-%d %H:%M:%S"), timesince(local, depth=1)
        )

    @admin.display(description=_("maintenance due"), ordering="next_maintenance_due")
    def pm_due(self, obj):
        due = (
            getattr(obj, "next_maintenance_due", None)
            if hasattr(obj, "next_maintenance_due")
            else asset_next_due(asset=obj)
        )
        if due is None:
            return "—"
        today = timezone.localdate()
        if obj.state == AssetState.DECOMMISSIONED:
            return "—"
        if due < today:
            return format_html('<strong style="color:#b91c1c">{} (overdue)</strong>', due.isoformat())
        if due <= today + timedelta(days=PM_DUE_SOON_DAYS):
            return format_html('<span style="color:#9a6700;font-weight:600">{}</span>', due.isoformat())
        return due.isoformat()

    @admin.display(description=_("next PM due"))
    def next_pm_due(self, obj):
        return asset_next_due(asset=obj) or "unknown (no schedule with a last completion or in-service date)"

    # Read-only panels -------------------------------------------------------------------------

    @admin.display(description=_("checklist"))
    def checklist_panel(self, obj):
        if obj.pk is None:
            return "—"
        checklist = decommissioning.checklist_for_asset(obj)
        if checklist is None:
            if obj.state == AssetState.BIOMED and decommissioning.user_can_edit_checklist(getattr(obj, "viewer", None)):
                url = reverse("admin:decommissioning_decommissioningchecklist_add") + f"?asset={obj.pk}"
                return format_html('None opened. <a href="{}">Open a decommissioning checklist</a>', url)
            return "None (a checklist can be opened while the asset is in biomed)."
        missing = decommissioning.decommission_blockers(obj)
        signed = decommissioning.latest_sign_offs(checklist)
        sign_offs = format_html_join(
            "",
            "<li>{}: {}</li>",
            (
                (
                    role.label,
                    "not signed"
                    if s is None
                    else f"{decommissioning.person_label(s.signed_by)}, version {s.checklist_version} — "
                    + _sign_off_state(checklist, s),
                )
                for role, s in signed.items()
            ),
        )
        certificate = decommissioning.certificate_for_asset(obj)
        status = (
            format_html(
                'Decommissioned: <a href="{}">certificate</a>',
                reverse("decommissioning:certificate-detail", args=[certificate.pk]),
            )
            if certificate
            else ("Ready to decommission." if not missing else f"{len(missing)} item(s) outstanding.")
        )
        items = format_html_join("", "<li>{}</li>", ((m,) for m in missing[:8]))
        return format_html(
            "<p>{} · {} · version {}</p><ul>{}</ul>{}",
            admin_link(checklist, "Open the checklist"),
            status,
            checklist.version,
            sign_offs,
            format_html("<p>Outstanding:</p><ul>{}</ul>", items) if missing and not certificate else "",
        )

    @admin.display(description=_("work orders"))
    def work_orders_panel(self, obj):
        if obj.pk is None:
            return "—"
        orders = (
            WorkOrder.objects.filter(asset=obj).select_related("technician", "recall").order_by("-opened_at", "-id")
        )
        total = orders.count()
        rows = [
            (
                admin_link(wo, wo.reference),
                wo.get_kind_display() + (f" ({wo.recall.reference_number})" if wo.recall_id else ""),
                wo.get_status_display(),
                wo.technician or "—",
                _when(wo.opened_at),
                _when(wo.closed_at),
            )
            for wo in orders[:PANEL_ROWS]
        ]
        add = reverse("admin:lifecycle_workorder_add") + f"?asset={obj.pk}"
        table = _table(
            ["work order", "kind", "status", "technician", "opened", "closed"],
            rows,
            empty="No work orders.",
            more_url=reverse("admin:lifecycle_workorder_changelist") + f"?asset__id__exact={obj.pk}",
            total=total,
        )
        viewer = getattr(obj, "viewer", None)
        if obj.state == AssetState.DECOMMISSIONED or viewer is None or not viewer.has_perm("lifecycle.add_workorder"):
            return table
        return format_html('{}<p><a href="{}">Open a work order</a></p>', table, add)

    @admin.display(description=_("transitions"))
    def transition_log_panel(self, obj):
        if obj.pk is None:
            return "—"
        history = asset_transition_history(asset=obj)
        total = history.count()
        rows = [
            (
                _when(entry.at),
                TransitionName(entry.transition).label
                if entry.transition in TransitionName.values
                else entry.transition,
                format_html("{} → {}", state_badge(entry.from_state), state_badge(entry.to_state)),
                entry.user or "the system",
                entry.room.code if entry.room_id else "—",
                entry.note or "",
            )
            for entry in history[:PANEL_ROWS]
        ]
        return _table(
            ["when", "transition", "state", "who", "room", "note"],
            rows,
            empty="No transitions yet.",
            more_url=reverse("admin:lifecycle_transitionlog_changelist") + f"?asset__id__exact={obj.pk}",
            total=total,
        )

    @admin.display(description=_("rooms"))
    def location_history_panel(self, obj):
        if obj.pk is None:
            return "—"
        stays = RoomInterval.objects.filter(asset=obj).select_related("room__floor__building")
        total = stays.count()
        rows = [
            (
                stay.room.code,
                f"{stay.room.floor.building.name} · {stay.room.floor.name}",
                stay.room.get_room_type_display(),
                _when(stay.entered_at),
                _when(stay.left_at) if stay.left_at else "still there",
            )
            for stay in stays.order_by("-entered_at", "-pk")[:PANEL_ROWS]
        ]
        return _table(
            ["room", "floor", "room type", "entered", "left"],
            rows,
            empty="No room history yet (the RTLS has not placed it in a room).",
            more_url=reverse("admin:locations_roominterval_changelist") + f"?asset__id__exact={obj.pk}",
            total=total,
        )

    # Saving -------------------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        # Change history: who changed which field, kept next to the asset (lifecycle.history).
        before = snapshot(Asset.objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)
        record_changes(instance=obj, user=request.user, before=before, after=snapshot(obj))

    # Extra pages ---------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("import/", view(self.import_view), name="assets_asset_import"),
            path("export.csv", view(self.export_view), name="assets_asset_export"),
            path(
                "<path:object_id>/transition/<str:transition>/",
                view(self.transition_view),
                name="assets_asset_transition",
            ),
            path("<path:object_id>/tag/bind/", view(self.tag_bind_view), name="assets_asset_tag_bind"),
            path("<path:object_id>/tag/unbind/", view(self.tag_unbind_view), name="assets_asset_tag_unbind"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        asset = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if asset is not None:
            runnable, blocked = transition_choices(asset, request.user)
            tag = Tag.objects.filter(asset=asset).first()
            extra_context.update(
                {
                    "transitions": runnable,
                    "blocked_transitions": blocked,
                    "state_definition": state_definition(asset.state),
                    "bound_tag": tag,
                    "can_bind_tags": self.has_change_permission(request, asset)
                    and asset.state != AssetState.DECOMMISSIONED,
                    "location_status": asset_location_status(asset=asset),
                    "where": where_label(asset),
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _asset_or_404(self, request, object_id) -> Asset:
        asset = self.get_object(request, object_id)
        if asset is None:
            raise Http404(f"No asset with id {object_id!r}.")
        if not self.has_view_permission(request, asset):
            raise PermissionDenied
        return asset

    def _change_url(self, asset):
        return reverse("admin:assets_asset_change", args=[asset.pk])

    def _page(self, request, template, asset, title, status=200, **context):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": asset,
            "title": title,
            "change_url": self._change_url(asset),
            **context,
        }
        return TemplateResponse(request, template, context, status=status)

    def transition_view(self, request, object_id, transition):
        """Confirm one transition, with a note; POST runs it through the lifecycle service."""

        if transition not in TransitionName.values or transition in NOT_A_BUTTON:
            raise Http404(f"No transition {transition!r}.")
        asset = self.get_object(request, object_id)
        if asset is None:
            raise Http404(f"No asset with id {object_id!r}.")
        # Whoever the policy table lets run this transition may use its page (declarations/policy.py).
        if not may(request.user, TRANSITION_ACTIONS[transition]) and not self.has_view_permission(request, asset):
            refuse(request.user, TRANSITION_ACTIONS[transition], door="admin", asset_id=asset.pk)
            raise PermissionDenied
        runnable, blocked = transition_choices(asset, request.user)
        chosen = next((t for t in runnable if t["name"] == transition), None)
        if transition == TransitionName.DECOMMISSION and chosen and (stale := fresh_signin_or_redirect(request)):
            return stale  # decommissioning needs a sign-in at most FRESH_SIGNIN_MINUTES old
        error, status = None, 200
        if request.method == "POST":
            note = request.POST.get("note", "")
            seen_state = request.POST.get("state", "")
            if seen_state in AssetState.values:
                # The state the user confirmed: if someone changed it since, the service says so (409).
                set_known_state(asset, seen_state)
            try:
                if transition == TransitionName.DECOMMISSION:
                    certificate = asset_decommission(asset=asset, user=request.user, note=note)
                    messages.success(request, _("%(asset)s is decommissioned; certificate issued.") % {"asset": asset})
                    return HttpResponseRedirect(reverse("decommissioning:certificate-detail", args=[certificate.pk]))

                to_state = request.POST.get("to_state") or None
                entry = asset_transition(
                    asset=asset, transition=transition, user=request.user, note=note, to_state=to_state
                )
            except LifecycleError as exc:
                error, status = exc.message, exc.status_code
                asset.refresh_from_db()
                runnable, blocked = transition_choices(asset, request.user)
                chosen = next((t for t in runnable if t["name"] == transition), None)
            else:
                messages.success(
                    request,
                    _("%(asset)s: %(transition)s, %(from)s → %(to)s.")
                    % {
                        "asset": asset,
                        "transition": TransitionName(transition).label.lower(),
                        "from": state_definition(entry.from_state).label,
                        "to": state_definition(entry.to_state).label,
                    },
                )
                return HttpResponseRedirect(self._change_url(asset))
        elif chosen is None:
            refused = next((t for t in blocked if t["name"] == transition), None)
            error = (
                _("Not possible now: %(reasons)s.") % {"reasons": "; ".join(refused["reasons"])}
                if refused and refused["reasons"]
                else _("%(transition)s is not open to you while %(asset)s is %(state)s.")
                % {
                    "transition": TransitionName(transition).label,
                    "asset": asset,
                    "state": state_definition(asset.state).label.lower(),
                }
            )
            status = 409 if refused else 403
        return self._page(
            request,
            "admin/assets/asset/transition_confirm.html",
            asset,
            f"{TransitionName(transition).label}: {asset}",
            status=status,
            transition=chosen,
            transition_name=transition,
            error=error,
            note=request.POST.get("note", ""),
            current=state_definition(asset.state),
        )

    def tag_bind_view(self, request, object_id):
        asset = self._asset_or_404(request, object_id)
        if not self.has_change_permission(request, asset):
            raise PermissionDenied
        error, value = None, request.POST.get("tag_id", "")
        if request.method == "POST":
            try:
                tag = Tag.objects.get(tag_id=normalize_tag_id(value))
                tag_bind(tag=tag, asset=asset, user=request.user)
            except TagIdError:
                error = _("tag id %(value)s is not 12 hexadecimal digits (like c3:00:00:00:01:0a)") % {
                    "value": repr(value)
                }
            except Tag.DoesNotExist:
                error = _("no tag %(tag)s is registered; add it under Tags first (%(url)s), then bind it here") % {
                    "tag": value.strip(),
                    "url": reverse("admin:assets_tag_add"),
                }
            except TagBindingError as exc:
                error = str(exc)
            else:
                messages.success(request, _("Tag %(tag)s is now on %(asset)s.") % {"tag": tag, "asset": asset})
                return HttpResponseRedirect(self._change_url(asset))
        return self._page(
            request,
            "admin/assets/asset/tag_binding.html",
            asset,
            _("Bind a tag to %(asset)s") % {"asset": asset},
            status=400 if error else 200,
            action="bind",
            error=error,
            value=value,
            bound_tag=Tag.objects.filter(asset=asset).first(),
        )

    def tag_unbind_view(self, request, object_id):
        asset = self._asset_or_404(request, object_id)
        if not self.has_change_permission(request, asset):
            raise PermissionDenied
        tag = Tag.objects.filter(asset=asset).first()
        if request.method == "POST":
            if tag is not None:
                tag_unbind(tag=tag, user=request.user)
                messages.success(
                    request,
                    _("Tag %(tag)s is off %(asset)s; it can be bound to another asset.") % {"tag": tag, "asset": asset},
                )
            return HttpResponseRedirect(self._change_url(asset))
        return self._page(
            request,
            "admin/assets/asset/tag_binding.html",
            asset,
            _("Unbind the tag from %(asset)s") % {"asset": asset},
            action="unbind",
            bound_tag=tag,
        )

    # Import and export --------------------------------------------------------------------------

    IMPORT_PERMISSIONS = ["assets.add_asset", "assets.change_asset", "assets.add_tag", "assets.add_assettype"]

    def has_import_permission(self, request):
        return request.user.has_perms(self.IMPORT_PERMISSIONS)

    def import_view(self, request):
        """Upload a CSV, see what it would do (or its row errors), then confirm."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        context = {"kind": "assets", "accept": ".csv,text/csv", "multiple": False}
        form = admin_imports.UploadForm(multiple=False, accept=".csv,text/csv")
        if request.method == "POST" and request.POST.get("token"):
            uploads = admin_imports.unstash(request, "assets", request.POST["token"])
            if uploads is None:
                messages.error(request, _("That preview has expired or was replaced; upload the file again."))
                return HttpResponseRedirect(reverse("admin:assets_asset_import"))
            try:
                result = assets_import(stream=io.StringIO(uploads[0].text()), user=request.user)
            except AssetImportError as exc:  # the data changed since the preview (say, a tag bound meanwhile)
                context.update(errors=exc.errors, file_names=[uploads[0].name])
            else:
                admin_imports.forget(request)
                messages.success(
                    request,
                    _("Imported %(file)s: %(counts)s.") % {"file": uploads[0].name, "counts": _asset_counts(result)},
                )
                return HttpResponseRedirect(reverse("admin:assets_asset_changelist"))
        elif request.method == "POST":
            form = admin_imports.UploadForm(request.POST, request.FILES, multiple=False, accept=".csv,text/csv")
            if form.is_valid():
                [upload] = form.cleaned_data["files"]
                context["file_names"] = [upload.name]
                try:
                    result = assets_import(stream=io.StringIO(upload.text()), user=request.user, dry_run=True)
                except UnicodeDecodeError:
                    context["errors"] = [_("%(file)s: the file is not UTF-8 text") % {"file": upload.name}]
                except AssetImportError as exc:
                    context["errors"] = exc.errors
                else:
                    context["summary"] = _asset_summary(result)
                    context["token"] = admin_imports.stash(request, "assets", [upload])
        return self._tool_page(request, _("Import assets from CSV"), form, context)

    def _tool_page(self, request, title, form, context):
        return TemplateResponse(
            request,
            "admin/import_preview.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                "form": form,
                "changelist_url": reverse("admin:assets_asset_changelist"),
                "help": (
                    "CSV with the header asset_tag,asset_type,tag_id,manufacturer,model,serial_number and "
                    "optionally unit,data_bearing,networked,encryption_status,firmware_version,risk_class,"
                    "in_service_date,purchase_date. Assets are matched by asset_tag: importing the same file "
                    "again changes nothing. A file with any error imports nothing."
                ),
                **context,
            },
            status=400 if context.get("errors") else 200,
        )

    # (CSV column, the list query's value) in file order; next_pm_due is computed from the PM fields below.
    EXPORT = [
        ("asset_tag", "asset_tag"),
        ("asset_type", "asset_type__name"),
        ("manufacturer", "manufacturer"),
        ("model", "model"),
        ("serial_number", "serial_number"),
        ("unit", "unit"),
        ("state", "state"),
        ("location_status", "location_status"),
        ("room", "current_room__code"),
        ("floor", "current_room__floor__name"),
        ("building", "current_room__floor__building__name"),
        ("last_seen", "last_seen"),
        ("next_pm_due", None),
        ("tag_id", "tag__tag_id"),
        ("data_bearing", "data_bearing"),
        ("networked", "networked"),
        ("risk_class", "risk_class"),
        ("encryption_status", "encryption_status"),
        ("firmware_version", "firmware_version"),
        ("aem", "aem"),
    ]

    def export_view(self, request):
        """The list as filtered, searched and sorted on screen, every page of it, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        # Plain rows, not model instances: at 50,000 assets, building six objects per row dominates.

        next_due = MaintenanceSchedule.objects.filter(asset=OuterRef("pk"), active=True, next_due__isnull=False)
        values = [path for _, path in self.EXPORT if path] + ["next_maintenance_due"]
        rows = changelist.queryset.annotate(
            next_maintenance_due=Subquery(next_due.order_by("next_due").values("next_due")[:1])
        ).values_list(*values)

        def lines():
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow([column for column, _ in self.EXPORT])
            for n, row in enumerate(rows.iterator(chunk_size=2000)):
                record = dict(zip(values, row, strict=True))
                due = record["next_maintenance_due"]
                record["last_seen"] = timezone.localtime(record["last_seen"]).isoformat() if record["last_seen"] else ""
                record["tag__tag_id"] = format_tag_id(record["tag__tag_id"]) if record["tag__tag_id"] else ""
                writer.writerow(
                    _safe_cell(record[path] if path else (due.isoformat() if due else "")) for _, path in self.EXPORT
                )
                if n % 500 == 0:
                    yield _drain(buffer)
            yield _drain(buffer)

        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="assets-{stamp}.csv"'
        return response

    # Actions --------------------------------------------------------------------------------------

    def has_open_work_order_permission(self, request):
        return request.user.has_perm("lifecycle.add_workorder")

    @admin.action(description=_("Open a PM work order for each selected asset"), permissions=["open_work_order"])
    def open_pm_work_orders(self, request, queryset):
        has_open_pm = set(
            WorkOrder.objects.filter(
                asset__in=queryset, kind=WorkOrderKind.PM, status__in=OPEN_WORK_ORDER_STATUSES
            ).values_list("asset_id", flat=True)
        )
        opened, skipped, refused = 0, 0, []
        for asset in queryset.order_by("pk"):
            if asset.pk in has_open_pm:
                skipped += 1
                continue
            try:
                work_order_open(
                    asset=asset, kind=WorkOrderKind.PM, user=request.user, notes="Opened from the asset list"
                )
                opened += 1
            except LifecycleError as exc:
                refused.append(f"{asset}: {exc.message}")
        self.message_user(
            request,
            _("Opened %(opened)s PM work order(s); %(skipped)s asset(s) already had one open.")
            % {"opened": opened, "skipped": skipped},
            messages.SUCCESS if opened else messages.INFO,
        )
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return value


def _sign_off_state(checklist, sign_off) -> str:
    reason = decommissioning.sign_off_void_reason(checklist, sign_off)
    return "valid" if reason is None else f"void: {reason}"


def _safe_cell(value):
    """Spreadsheets run a cell starting with = + - @ as a formula; a leading ' keeps it text."""
    return safe_cell(value)


def _asset_summary(result) -> list[tuple[str, object]]:
    return [
        ("assets created", result.created),
        ("assets updated", result.updated),
        ("assets unchanged", result.unchanged),
        ("asset types created", ", ".join(result.asset_types_created) or "none"),
        ("tags registered", result.tags_registered),
        ("tags bound", result.tags_bound),
    ]


def _asset_counts(result) -> str:
    return _("%(created)s created, %(updated)s updated, %(unchanged)s unchanged") % {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
    }


class LowBatteryFilter(admin.SimpleListFilter):
    title = _("battery")
    parameter_name = "battery"

    def lookups(self, request, model_admin):
        return [("low", f"Low (below {low_battery_threshold()}%)"), ("ok", "OK"), ("unknown", "Not reported")]

    def queryset(self, request, queryset):
        if self.value() == "low":
            return queryset.filter(pk__in=tags_low_battery().values("pk"))
        if self.value() == "ok":
            return queryset.filter(battery_percent__gte=low_battery_threshold())
        if self.value() == "unknown":
            return queryset.filter(battery_percent__isnull=True)
        return queryset


class BoundFilter(admin.SimpleListFilter):
    title = _("bound")
    parameter_name = "bound"

    def lookups(self, request, model_admin):
        return [("yes", "On an asset"), ("no", "Free (can be bound)")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(asset__isnull=self.value() == "no")
        return queryset


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """Tags and their batteries. Binding happens on the asset page (tag_bind keeps the history)."""

    list_display = ["__str__", "asset_link", "battery", "last_seen"]
    list_filter = [LowBatteryFilter, BoundFilter]
    list_select_related = ["asset"]
    search_fields = ["tag_id", "asset__asset_tag"]
    ordering = ["battery_percent", "tag_id"]
    readonly_fields = ["asset", "last_seen", "registered_at"]
    fields = ["tag_id", "battery_percent", "asset", "last_seen", "registered_at"]

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            return results | queryset.filter(tag_id=normalize_tag_id(search_term.strip())), may_have_duplicates
        except TagIdError:
            return results, may_have_duplicates

    @admin.display(description=_("asset"), ordering="asset__asset_tag")
    def asset_link(self, obj):
        return admin_link(obj.asset) if obj.asset_id else "—"

    @admin.display(description=_("battery"), ordering="battery_percent")
    def battery(self, obj):
        if obj.battery_percent is None:
            return "—"
        if tag_battery_is_low(obj.battery_percent):
            return format_html('<strong style="color:#b91c1c">🪫 {}% (replace)</strong>', obj.battery_percent)
        return f"{obj.battery_percent}%"


@admin.register(TagBinding)
class TagBindingAdmin(admin.ModelAdmin):
    """Which tag was on which asset, and who moved it: history, read-only."""

    list_display = ["tag", "asset", "bound_at", "bound_by", "unbound_at", "unbound_by"]
    list_select_related = ["tag", "asset", "bound_by", "unbound_by"]
    list_filter = [("unbound_at", admin.EmptyFieldListFilter)]
    search_fields = ["tag__tag_id", "asset__asset_tag"]
    date_hierarchy = "bound_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
