"""The work orders' status machine, run for a user: which transition a status change is, and running it.

The transitions are django-fsm methods on ``lifecycle.models.WorkOrder`` whose sources, targets and roles
are the policy table's ``WORK_ORDER_TRANSITIONS`` (declarations/policy.py). lifecycle.services (open,
update, complete) and lifecycle.biomed.services (scheduled work: close with a result, cancel) both run
them here, so a refused change reads the same whichever door it came through.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from config.access import check, describe
from declarations.policy import WORK_ORDER_TRANSITIONS
from lifecycle.exceptions import TransitionPermissionDenied, WorkOrderError
from lifecycle.fsm import status_allows
from lifecycle.models import WorkOrder, WorkOrderStatus

# The words of a refusal; the transition names and statuses stay the machine values everywhere else.
_TRANSITION_WORDS = {
    "start": pgettext_lazy("work order action", "start"),
    "complete": pgettext_lazy("work order action", "complete"),
    "cancel": pgettext_lazy("work order action", "cancel"),
}


def _status_word(status: str) -> str:
    return str(WorkOrderStatus(status).label).lower() if status in WorkOrderStatus.values else status


def work_order_transition_name(*, old: str, new: str) -> str | None:
    """The work-order transition (declarations.policy.WORK_ORDER_TRANSITIONS, the model's django-fsm
    transitions) from ``old`` to ``new``; None when the status stays. Done and cancelled are final."""
    if old == new:
        return None
    for name, declared in WORK_ORDER_TRANSITIONS.items():
        if old in declared.sources and declared.target == new:
            return name
    allowed = ", ".join(
        _status_word(s) for s in sorted({d.target for d in WORK_ORDER_TRANSITIONS.values() if old in d.sources})
    )
    raise WorkOrderError(
        _("a work order that is %(old)s cannot become %(new)s; it can become %(allowed)s")
        % {"old": _status_word(old), "new": _status_word(new), "allowed": allowed or _("nothing (it is closed)")}
    )


def work_order_check_status_change(*, old: str, new: str) -> None:
    work_order_transition_name(old=old, new=new)


def work_order_run_transition(*, locked: WorkOrder, name: str, user, **kwargs) -> None:
    """Run the work order's transition ``name`` for ``user`` (row already locked): the policy table says who
    may, django-fsm whether the status allows it. Closing transitions take ``at``."""
    action = WORK_ORDER_TRANSITIONS[name].action
    if not check(user, action, door="work_orders", work_order_id=locked.pk):
        raise TransitionPermissionDenied(
            _("user %(user)s may not %(transition)s work orders: allowed for %(who)s")
            % {
                "user": user.get_username() if user is not None else _("the system"),
                "transition": _TRANSITION_WORDS.get(name, name),
                "who": describe(action),
            }
        )
    method = getattr(locked, name)
    if not status_allows(method):
        work_order_transition_name(old=locked.status, new=WORK_ORDER_TRANSITIONS[name].target)
    method(**kwargs)
