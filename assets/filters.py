"""The asset list's filters in the admin: choices over the API's filters, declared once in
assets/filtersets.py (AssetFilterSet).

Each admin filter here only says which FilterSet values its choices stand for; choosing one runs the
FilterSet itself on the list's queryset, so "missing", "PM overdue" or "high-risk" selects exactly the
assets the API's filter with the same value selects (tests/admin/test_asset_list.py compares them).
The FilterSet's filters in turn ask the selector that owns each definition (location status:
locations.freshness; PM due and recalls: lifecycle.selectors; tracked: lifecycle.alerts.selectors).

Every filter costs at most one small query for its choices and adds conditions to the one list
query, whatever the page size (tests/admin/test_asset_list.py counts them).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from assets.filtersets import AssetFilterSet
from declarations.location_status import LocationStatus
from locations.models import Floor, Room

PM_DUE_SOON_DAYS = 30


def first_of_next_month(today: date) -> date:
    """Due by the end of this month = "overdue" as seen on the first day of next month."""
    return (today.replace(day=28) + timedelta(days=4)).replace(day=1)


class FilterSetListFilter(admin.SimpleListFilter):
    """An admin list filter whose choices stand for values of the API's AssetFilterSet.

    Subclasses give ``options``: (value, label, {FilterSet parameter: value}), or override ``lookups`` and
    ``filterset_data`` when the choices come from the database.
    """

    filterset_class = AssetFilterSet
    options: list[tuple[str, str, dict]] = []

    def lookups(self, request, model_admin):
        return [(value, label) for value, label, _ in self.options]

    def filterset_data(self, value: str) -> dict | None:
        """The FilterSet parameters this choice stands for; None: not one of the choices (ignored)."""
        return next((data for choice, _, data in self.options if choice == value), None)

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        data = self.filterset_data(self.value())
        if data is None:
            return queryset
        filterset = self.filterset_class(data=data, queryset=queryset, request=request)
        if not filterset.is_valid():
            raise IncorrectLookupParameters(filterset.errors)
        return filterset.qs


class LocationStatusFilter(FilterSetListFilter):
    """located / stale / missing: the one definition (locations.freshness), as the API's location_status."""

    title = _("location status")
    parameter_name = "location"

    @property
    def options(self):
        return [(value, label, {"location_status": value}) for value, label in LocationStatus.choices]


class TrackedFilter(FilterSetListFilter):
    """The assets the missing and left-site alerts watch (lifecycle.alerts.selectors.tracked_q). With
    "location status: missing" it is the dashboard's "Missing assets"."""

    title = _("tracked")
    parameter_name = "tracked"
    options = [
        ("yes", _("Tracked: tagged, in service, heard before, not on loan"), {"tracked": "true"}),
        ("no", _("Not tracked"), {"tracked": "false"}),
    ]


class PmDueFilter(FilterSetListFilter):
    title = _("PM due")
    parameter_name = "pm"

    def lookups(self, request, model_admin):
        return [
            ("overdue", _("Overdue")),
            ("month", _("Due by the end of this month (overdue included)")),
            ("soon", f"Due in the next {PM_DUE_SOON_DAYS} days (not yet overdue)"),
        ]

    def filterset_data(self, value):
        today = timezone.localdate()
        if value == "overdue":
            return {"pm_overdue": "true"}
        if value == "month":
            return {"pm_due_within_days": (first_of_next_month(today) - today).days - 1}
        if value == "soon":
            return {"pm_due_within_days": PM_DUE_SOON_DAYS, "pm_overdue": "false"}
        return None


class OpenRecallFilter(FilterSetListFilter):
    title = _("open recall")
    parameter_name = "recall"
    options = [
        ("open", _("Open recall work order"), {"open_recall": "true"}),
        ("none", _("No open recall"), {"open_recall": "false"}),
    ]


class BuildingFloorFilter(admin.SimpleListFilter):
    """Where something is now: a whole building, or one floor of it. One query lists both.

    ``floor_path`` points at the model's floor (rooms and receivers: "floor"); the asset list uses
    AssetBuildingFloorFilter, which asks the API's FilterSet instead.
    """

    title = _("building and floor")
    parameter_name = "where"
    floor_path = "current_room__floor"

    def lookups(self, request, model_admin):
        floors = Floor.objects.select_related("building").order_by("building__name", "level", "code")
        choices, seen_buildings = [], set()
        for floor in floors:
            if floor.building_id not in seen_buildings:
                seen_buildings.add(floor.building_id)
                choices.append((f"b{floor.building_id}", f"{floor.building.name}: all floors"))
            choices.append((f"f{floor.pk}", f"\u2003{floor.building.name} · {floor.name}"))
        return choices

    @staticmethod
    def parse(value: str | None) -> tuple[str, int] | None:
        """("building" or "floor", id) for "b12" / "f34"; None for anything else."""
        value = value or ""
        kind, pk = value[:1], value[1:]
        if kind not in ("b", "f") or not pk.isdigit():
            return None
        return ("building" if kind == "b" else "floor"), int(pk)

    def queryset(self, request, queryset):
        parsed = self.parse(self.value())
        if parsed is None:
            return queryset
        kind, pk = parsed
        if kind == "building":
            return queryset.filter(**{f"{self.floor_path}__building_id": pk})
        return queryset.filter(**{f"{self.floor_path}_id": pk})


class AssetBuildingFloorFilter(FilterSetListFilter, BuildingFloorFilter):
    """Where the asset is now: the API's ``building`` / ``floor`` filters."""

    lookups = BuildingFloorFilter.lookups

    def filterset_data(self, value):
        parsed = self.parse(value)
        return None if parsed is None else {parsed[0]: parsed[1]}

    queryset = FilterSetListFilter.queryset


class OwningUnitFilter(FilterSetListFilter):
    """The care unit that owns the asset (the API's ``unit``). Its choices come from the asset table alone."""

    title = _("owning unit")
    parameter_name = "unit"

    def lookups(self, request, model_admin):
        units = model_admin.model.objects.exclude(unit="").order_by("unit").values_list("unit", flat=True).distinct()
        return [(unit, unit) for unit in units]

    def filterset_data(self, value):
        return {"unit": value}


class RoomUnitFilter(FilterSetListFilter):
    """The unit whose rooms the asset is in now (the API's ``room_unit``; par levels count by this), not the
    unit that owns it."""

    title = _("in a room of unit")
    parameter_name = "room_unit"

    def lookups(self, request, model_admin):
        units = Room.objects.exclude(unit="").order_by("unit").values_list("unit", flat=True).distinct()
        return [(unit, unit) for unit in units]

    def filterset_data(self, value):
        return {"room_unit": value}


class HighRiskFilter(FilterSetListFilter):
    """High-risk and life-support, as the accreditation report groups them (lifecycle.biomed.selectors)."""

    title = _("classification")
    parameter_name = "class"
    options = [
        ("high_risk", _("High-risk (own flag, type, life-support or risk class high)"), {"high_risk": "true"}),
        ("life_support", _("Life-support"), {"life_support": "true"}),
        ("other", _("Not high-risk"), {"high_risk": "false"}),
        ("security", _("Security inventory: data-bearing or networked"), {"security_inventory": "true"}),
    ]
