"""The asset list's filters in the admin. Each one asks the selector that owns the definition
(location status: locations.freshness; PM due and recalls: lifecycle.selectors), so "missing" or
"PM overdue" means the same here as on the map, in the API and in the alerts.

Every filter costs at most one small query for its choices and adds conditions to the one list
query, whatever the page size (tests/admin/test_asset_list.py counts them).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone

from assets.models import Asset
from declarations.location_status import LocationStatus
from lifecycle.alerts.selectors import assets_left_site_in_alert, assets_missing_in_alert
from lifecycle.biomed.selectors import high_risk_q, life_support_q
from lifecycle.selectors import assets_pm_overdue, assets_with_open_recall
from locations.freshness import status_q
from locations.models import Floor, Room

PM_DUE_SOON_DAYS = 30


def first_of_next_month(today: date) -> date:
    """Due by the end of this month = "overdue" as seen on the first day of next month."""
    return (today.replace(day=28) + timedelta(days=4)).replace(day=1)


def missing_tracked_q(now=None) -> Q:
    """The alerts' "missing" and "left the site" (tagged, in service, seen before), as one asset filter."""
    return Q(pk__in=assets_missing_in_alert(now=now).values("pk")) | Q(
        pk__in=assets_left_site_in_alert(now=now).values("pk")
    )


class LocationStatusFilter(admin.SimpleListFilter):
    title = "location status"
    parameter_name = "location"

    # "Missing" is the definition of locations.freshness (never seen included); "missing_tracked" is the
    # alerts' definition: tagged, in service and seen at least once, so worth looking for.
    MISSING_TRACKED = "missing_tracked"

    def lookups(self, request, model_admin):
        return [
            *LocationStatus.choices,
            (self.MISSING_TRACKED, "Missing, tagged and in service"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value in LocationStatus.values:
            return queryset.filter(status_q(value))
        if value == self.MISSING_TRACKED:
            return queryset.filter(missing_tracked_q())
        return queryset


class PmDueFilter(admin.SimpleListFilter):
    title = "PM due"
    parameter_name = "pm"

    def lookups(self, request, model_admin):
        return [
            ("overdue", "Overdue"),
            ("month", "Due by the end of this month (overdue included)"),
            ("soon", f"Due in the next {PM_DUE_SOON_DAYS} days (not yet overdue)"),
        ]

    def queryset(self, request, queryset):
        # AND-ing the selector's queryset (rather than pk__in) puts its conditions in the list query's own
        # WHERE: at 50,000 assets PostgreSQL then plans one scan instead of a semi-join it misestimates.
        today = timezone.localdate()
        if self.value() == "overdue":
            return queryset & assets_pm_overdue(today=today)
        if self.value() == "month":
            return queryset & assets_pm_overdue(today=first_of_next_month(today))
        if self.value() == "soon":
            horizon = today + timedelta(days=PM_DUE_SOON_DAYS + 1)
            return (queryset & assets_pm_overdue(today=horizon)).exclude(
                pk__in=assets_pm_overdue(today=today).values("pk")
            )
        return queryset


class OpenRecallFilter(admin.SimpleListFilter):
    title = "open recall"
    parameter_name = "recall"

    def lookups(self, request, model_admin):
        return [("open", "Open recall work order"), ("none", "No open recall")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(pk__in=assets_with_open_recall().values("pk"))
        if self.value() == "none":
            return queryset.exclude(pk__in=assets_with_open_recall().values("pk"))
        return queryset


class BuildingFloorFilter(admin.SimpleListFilter):
    """Where the asset is now: a whole building, or one floor of it. One query lists both.

    Subclasses point ``floor_path`` at another model's floor (rooms and receivers: "floor").
    """

    title = "building and floor"
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

    def queryset(self, request, queryset):
        value = self.value() or ""
        kind, pk = value[:1], value[1:]
        if not pk.isdigit():
            return queryset
        if kind == "b":
            return queryset.filter(**{f"{self.floor_path}__building_id": int(pk)})
        if kind == "f":
            return queryset.filter(**{f"{self.floor_path}_id": int(pk)})
        return queryset


class OwningUnitFilter(admin.SimpleListFilter):
    """The care unit that owns the asset (Asset.unit). Its choices come from the asset table alone."""

    title = "owning unit"
    parameter_name = "unit"

    def lookups(self, request, model_admin):
        units = Asset.objects.exclude(unit="").order_by("unit").values_list("unit", flat=True).distinct()
        return [(unit, unit) for unit in units]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(unit=self.value())
        return queryset


class RoomUnitFilter(admin.SimpleListFilter):
    """The unit whose rooms the asset is in now (par levels count by this), not the unit that owns it."""

    title = "in a room of unit"
    parameter_name = "room_unit"

    def lookups(self, request, model_admin):
        units = Room.objects.exclude(unit="").order_by("unit").values_list("unit", flat=True).distinct()
        return [(unit, unit) for unit in units]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(current_room__unit=self.value())
        return queryset


class HighRiskFilter(admin.SimpleListFilter):
    """High-risk and life-support, as the accreditation report groups them (lifecycle.biomed.selectors)."""

    title = "classification"
    parameter_name = "class"

    def lookups(self, request, model_admin):
        return [
            ("high_risk", "High-risk (own flag, type, life-support or risk class high)"),
            ("life_support", "Life-support"),
            ("other", "Not high-risk"),
            ("security", "Security inventory: data-bearing or networked"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "high_risk":
            return queryset.filter(high_risk_q())
        if self.value() == "life_support":
            return queryset.filter(life_support_q())
        if self.value() == "other":
            return queryset.exclude(high_risk_q())
        if self.value() == "security":
            return queryset.filter(Q(data_bearing=True) | Q(networked=True))
        return queryset
