"""The asset filters, declared once: the API list uses them, and any UI list can reuse them.

Each filter that encodes a rule calls that rule's selector (location status: locations.freshness; PM and
recalls: lifecycle.selectors; tracked: lifecycle.alerts.selectors), so "overdue" or "missing" means the same
here as everywhere else. The admin's asset list filters (assets/filters.py) run this FilterSet too.

A filter on a security field is a way to read it (``networked=true&encryption_status=unknown`` lists the
networked devices with unknown encryption), so the filters on those fields (SECURITY_FILTERS) are refused,
naming each, to callers the policy table does not give ``assets.read_security_fields`` (docs/security.md,
"Least privilege when reading"): the same callers the asset serializer hides those fields from.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from assets.models import Asset, AssetType
from config.access import describe, may, refuse
from config.api_filters import StrictBooleanFilter, StrictFilterSet
from declarations.location_status import LocationStatus
from declarations.policy import Action
from declarations.states import AssetState
from declarations.tag_ids import TagIdError, normalize_tag_id
from lifecycle.alerts.selectors import tracked_q
from lifecycle.biomed.selectors import high_risk_q, life_support_q
from lifecycle.models import Recall
from lifecycle.selectors import assets_pm_due_by, assets_pm_overdue, assets_with_open_recall, recall_matching_assets
from locations.freshness import status_q

MAX_PM_HORIZON_DAYS = 3650
# Filters that read a security field (config.api_permissions.SecurityFieldsMixin hides the fields themselves).
SECURITY_FILTERS = ("networked", "risk_class", "encryption_status", "security_inventory")


class AssetFilterSet(StrictFilterSet):
    type = django_filters.CharFilter(field_name="asset_type__slug", help_text="Asset type slug, e.g. infusion-pump.")
    asset_type = django_filters.ModelChoiceFilter(queryset=AssetType.objects.all(), help_text="Asset type id.")
    state = django_filters.MultipleChoiceFilter(
        choices=AssetState.choices, help_text="Lifecycle state; repeat for several (state=available&state=reserved)."
    )
    site = django_filters.NumberFilter(field_name="current_room__site_id", help_text="Site id (where it is now).")
    building = django_filters.NumberFilter(
        field_name="current_room__floor__building_id", help_text="Building id (where it is now)."
    )
    floor = django_filters.NumberFilter(field_name="current_room__floor_id", help_text="Floor id (where it is now).")
    room = django_filters.NumberFilter(field_name="current_room_id", help_text="Room id (where it is now).")
    unit = django_filters.CharFilter(field_name="unit", help_text="Owning care unit (Asset.unit), exact.")
    room_unit = django_filters.CharFilter(
        field_name="current_room__unit", help_text="Care unit of the room it is in now (as par levels count)."
    )
    location_status = django_filters.ChoiceFilter(
        choices=LocationStatus.choices, method="filter_location_status", help_text="located, stale or missing."
    )
    pm_overdue = StrictBooleanFilter(method="filter_pm_overdue", help_text="PM due date has passed.")
    pm_due_within_days = django_filters.NumberFilter(
        method="filter_pm_due_within",
        min_value=0,
        max_value=MAX_PM_HORIZON_DAYS,
        help_text="PM due within this many days from today (overdue included).",
    )
    tracked = StrictBooleanFilter(
        method="filter_tracked",
        help_text="Tagged, in service, heard at least once and not on loan: the assets the missing and left-site "
        "alerts watch. With location_status=missing: the missing assets worth looking for.",
    )
    open_recall = StrictBooleanFilter(method="filter_open_recall", help_text="Has an open recall work order.")
    recall = django_filters.ModelChoiceFilter(
        queryset=Recall.objects.all(),
        method="filter_recall",
        field_name="id",
        help_text="Recall id: the assets it names.",
    )
    tag = django_filters.CharFilter(method="filter_tag", help_text="RTLS tag id, any case, with or without ':'.")
    high_risk = StrictBooleanFilter(
        method="filter_high_risk",
        help_text="High-risk: its own flag, else its type's, life-support or risk class high.",
    )
    life_support = StrictBooleanFilter(method="filter_life_support", help_text="Life-support (or its type).")
    security_inventory = StrictBooleanFilter(
        method="filter_security_inventory", help_text="Data-bearing or networked (the security inventory)."
    )

    class Meta:
        model = Asset
        fields = ["manufacturer", "model", "data_bearing", "networked", "risk_class", "encryption_status", "aem"]

    def security_filters_refused(self) -> list[str]:
        """The security filters this request uses although its caller may not read security fields."""
        used = [name for name in SECURITY_FILTERS if self.data.get(name) not in (None, "")]
        if not used:
            return []
        user = getattr(self.request, "user", None)
        if user is not None and may(user, Action.READ_SECURITY_FIELDS):
            return []
        refuse(user, Action.READ_SECURITY_FIELDS, door="asset_filters", filters=used)
        return used

    def is_valid(self):
        valid = super().is_valid()
        if hasattr(self, "_security_refused"):  # asked before: the errors are on the form already
            return valid and not self._security_refused
        refused = self._security_refused = self.security_filters_refused()
        for name in refused:
            self.form.add_error(
                name,
                _("%(filter)s filters on a security field, which only %(who)s may read")
                % {"filter": name, "who": describe(Action.READ_SECURITY_FIELDS)},
            )
        return valid and not refused

    def filter_high_risk(self, queryset, name, value):
        return queryset.filter(high_risk_q()) if value else queryset.exclude(high_risk_q())

    def filter_life_support(self, queryset, name, value):
        return queryset.filter(life_support_q()) if value else queryset.exclude(life_support_q())

    def filter_security_inventory(self, queryset, name, value):
        inventory = Q(data_bearing=True) | Q(networked=True)
        return queryset.filter(inventory) if value else queryset.exclude(inventory)

    def filter_location_status(self, queryset, name, value):
        return queryset.filter(status_q(value))

    # AND-ing the selector's queryset (rather than pk__in) puts its conditions in the list query's own WHERE:
    # at 50,000 assets PostgreSQL then plans one scan instead of a semi-join it misestimates.
    def filter_pm_overdue(self, queryset, name, value):
        overdue = assets_pm_overdue(today=timezone.localdate())
        return queryset & overdue if value else queryset.exclude(pk__in=overdue.values("pk"))

    def filter_pm_due_within(self, queryset, name, value):
        day = timezone.localdate() + timedelta(days=int(value))
        return queryset & assets_pm_due_by(day=day)

    def filter_tracked(self, queryset, name, value):
        return queryset.filter(tracked_q()) if value else queryset.exclude(tracked_q())

    def filter_open_recall(self, queryset, name, value):
        recalled = assets_with_open_recall().values("pk")
        return queryset.filter(pk__in=recalled) if value else queryset.exclude(pk__in=recalled)

    def filter_recall(self, queryset, name, value: Recall):
        return queryset.filter(pk__in=recall_matching_assets(recall=value).values("pk"))

    def filter_tag(self, queryset, name, value):
        try:
            return queryset.filter(tag__tag_id=normalize_tag_id(value))
        except TagIdError:
            return queryset.none()
