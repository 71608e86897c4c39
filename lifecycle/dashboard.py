"""The admin index's dashboard: the numbers a biomed department starts its day with.

Each number comes from the selector that defines it (lifecycle, alerts, decommissioning, freshness)
and links to the admin list filtered to exactly those rows, by the list filters in assets/filters.py
and the admin modules. A tile is shown only to users who may open the list it links to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from assets.filters import first_of_next_month
from assets.models import Asset
from declarations.location_status import LocationStatus
from declarations.states import AssetState, all_state_definitions
from lifecycle.alerts.models import Alert
from lifecycle.alerts.selectors import (
    par_levels_in_alert,
    receivers_silent_in_alert,
    tags_low_battery_in_alert,
    tracked_q,
)
from lifecycle.decommissioning import selectors as decommissioning
from lifecycle.decommissioning.models import DecommissioningChecklist, SignOff
from lifecycle.models import OPEN_WORK_ORDER_STATUSES, WorkOrder
from lifecycle.selectors import assets_pm_overdue, assets_with_open_recall
from locations.freshness import status_q


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    count: int
    url: str
    colour: str = ""  # a state's shared colour; otherwise the tone decides
    icon: str = ""
    help: str = ""
    alarm: bool = False  # a non-zero count needs someone


@dataclass
class Section:
    title: str
    tiles: list[Tile] = field(default_factory=list)


def _changelist(model: str, query: str = "") -> str:
    return reverse(f"admin:{model}_changelist") + (f"?{query}" if query else "")


# Decommissioning sign-offs ---------------------------------------------------------------------------


def checklists_awaiting_sign_off(*, user) -> list[DecommissioningChecklist]:
    """Checklists this user could sign now: the asset is in biomed, the checklist is complete, a role the
    user holds has no valid sign-off yet, and the user has not signed this version in the other role.

    The SQL narrows it to checklists lacking one of the user's sign-offs; completeness is the
    decommissioning selectors' own check, run on those few. A sign-off of the current version is void when
    what it signed changed since (an asset type renamed): checklists whose sign-offs would otherwise rule
    them out are checked one by one (decommissioning.sign_off_roles_open), and they are few (signed, still
    in biomed).
    """
    roles = [role.value for role in decommissioning.user_sign_off_roles(user)]
    if not roles:
        return []
    candidates = DecommissioningChecklist.objects.filter(asset__state=AssetState.BIOMED).select_related("asset")
    signed_now = SignOff.objects.filter(checklist_version=F("checklist__version"))
    open_to_user = candidates.exclude(pk__in=signed_now.filter(signed_by=user).values("checklist_id"))
    unsigned_role = Q()
    for role in roles:
        unsigned_role |= ~Q(pk__in=signed_now.filter(role=role).values("checklist_id"))
    open_to_user = list(open_to_user.filter(unsigned_role))
    signed = candidates.filter(pk__in=signed_now.values("checklist_id")).exclude(pk__in=[c.pk for c in open_to_user])
    resign = [c for c in signed if decommissioning.sign_off_roles_open(user, c)]
    ready = [c for c in open_to_user + resign if not decommissioning.checklist_missing_items(c)]
    return sorted(ready, key=lambda c: c.opened_at, reverse=True)  # the checklists' own order


# The dashboard -----------------------------------------------------------------------------------------


def dashboard_sections(*, user, now: datetime | None = None) -> list[Section]:
    now = now or timezone.now()
    today = timezone.localdate(now)
    sections: list[Section] = []
    can = user.has_perm

    if can("assets.view_asset"):
        counts = dict(Asset.objects.order_by().values_list("state").annotate(n=Count("pk")))
        sections.append(
            Section(
                _("Equipment by state"),
                [
                    Tile(
                        key=f"state-{d.value}",
                        label=d.label,
                        count=counts.get(d.value, 0),
                        url=_changelist("assets_asset", f"state__exact={d.value}"),
                        colour=d.colour,
                        icon=d.icon,
                        help=d.definition,
                    )
                    for d in all_state_definitions()
                ],
            )
        )

    attention = Section(_("Needs attention"))
    if can("assets.view_asset"):
        attention.tiles += [
            Tile(
                "pm-overdue",
                _("PM overdue"),
                assets_pm_overdue(today=today).count(),
                _changelist("assets_asset", "pm=overdue"),
                help=_("Assets in service whose planned maintenance date has passed."),
                alarm=True,
            ),
            Tile(
                "open-recalls",
                _("Open recalls"),
                assets_with_open_recall().count(),
                _changelist("assets_asset", "recall=open"),
                help=_("Assets with an open recall work order."),
                alarm=True,
            ),
            Tile(
                "missing",
                _("Missing assets"),
                Asset.objects.filter(status_q(LocationStatus.MISSING, now), tracked_q()).count(),
                _changelist("assets_asset", "location=missing&tracked=yes"),
                help=_(
                    "Missing (not heard for the missing window, or last seen leaving the site) and tracked: tagged, "
                    "in service, heard before and not on loan."
                ),
                alarm=True,
            ),
        ]
    if can("alerts.view_parlevel"):
        attention.tiles.append(
            Tile(
                "par-breaches",
                _("Par breaches"),
                par_levels_in_alert(now=now).count(),
                _changelist("alerts_parlevel", "stock=critical"),
                help=_("Par levels with fewer available, located assets than their critical threshold."),
                alarm=True,
            )
        )
    if can("alerts.view_alert"):
        attention.tiles.append(
            Tile(
                "open-alerts",
                _("Open alerts"),
                Alert.objects.open().count(),
                _changelist("alerts_alert", "open=yes"),
                help=_("New or acknowledged, not resolved."),
                alarm=True,
            )
        )
    if can("locations.view_receiver"):
        attention.tiles.append(
            Tile(
                "silent-receivers",
                _("Silent receivers"),
                receivers_silent_in_alert(now=now).count(),
                _changelist("locations_receiver", "heard=silent"),
                help=_("Active receivers not heard recently."),
                alarm=True,
            )
        )
    if can("assets.view_tag"):
        attention.tiles.append(
            Tile(
                "low-battery",
                _("Tags with a low battery"),
                tags_low_battery_in_alert(now=now).count(),
                _changelist("assets_tag", "battery=low"),
                alarm=True,
            )
        )
    if attention.tiles:
        sections.append(attention)

    mine = Section(_("My work"))
    if decommissioning.user_sign_off_roles(user):
        mine.tiles.append(
            Tile(
                "sign-offs",
                _("Sign-offs waiting for me"),
                len(checklists_awaiting_sign_off(user=user)),
                _changelist("decommissioning_decommissioningchecklist", "awaiting=me"),
                help=_("Complete decommissioning checklists that still need your role's sign-off."),
                alarm=True,
            )
        )
    if can("lifecycle.view_workorder"):
        mine.tiles.append(
            Tile(
                "my-work-orders",
                _("My open work orders"),
                WorkOrder.objects.filter(technician=user, status__in=OPEN_WORK_ORDER_STATUSES).count(),
                _changelist("lifecycle_workorder", "mine=open"),
            )
        )
    if can("assets.view_asset"):
        mine.tiles.append(
            Tile(
                "pm-this-month",
                _("PM due this month"),
                assets_pm_overdue(today=first_of_next_month(today)).count(),
                _changelist("assets_asset", "pm=month"),
                help=_("Due by the end of the month, overdue included."),
            )
        )
    if mine.tiles:
        sections.append(mine)
    return sections
