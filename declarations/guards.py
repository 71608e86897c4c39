"""The guards of the asset state machine, declared by name and bound late.

django-fsm's ``conditions=`` wants callables returning a bool; a ``Guard`` is one, and it also gives the
services the reasons ("PM overdue since 2026-10-02") to put in a refusal.

Each guard is declared here with its name and what it means in words; ``assets.models.Asset`` names them in
its ``@transition(conditions=...)``. What a guard checks (schedules, recalls, freshness, the
decommissioning checklist) belongs to the lifecycle apps, which bind each check to its guard in their
``AppConfig.ready()`` (``lifecycle.guards.bind_guards``; the decommissioning app binds ``decommission_ready``).
So the asset model imports nothing from lifecycle, and the declarations import no models. A guard nobody
bound refuses, with its ``unbound_reason``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext, gettext_lazy

Check = Callable[[object], list[str]]  # the reasons in words, in the active language (gettext)


class Guard:
    def __init__(self, name: str, description, check: Check | None = None, *, unbound_reason=""):
        self.name = self.__name__ = name
        self.description = description
        self._check = check
        # What a guard whose check was never bound says (its app is not installed): it refuses, it never
        # lets a transition through unchecked.
        # Translated when read (a lazy string), in the reader's language; the code stays ``name``.
        self.unbound_reason = unbound_reason

    def unbound_text(self) -> str:
        if self.unbound_reason:
            return str(self.unbound_reason)
        return gettext("%(guard)s cannot be checked: no installed app provides its check") % {"guard": self.name}

    def bind(self, check: Check) -> None:
        """Give the guard its check: called once, by the app that owns the rule (its AppConfig.ready)."""
        self._check = check

    def reasons(self, instance) -> list[str]:
        """Why the transition may not run now, in words; empty when it may."""
        if self._check is None:
            return [self.unbound_text()]
        return list(self._check(instance))

    def __call__(self, instance) -> bool:
        return not self.reasons(instance)

    def __repr__(self):
        return f"Guard({self.name})"


# The names are the stable refusal codes; the descriptions and reasons are translated (docs/translating.md).
IS_LOCATED = Guard("is_located", gettext_lazy("asset is located (seen within the freshness window)"))
IS_SERVICEABLE = Guard("is_serviceable", gettext_lazy("PM not overdue and no open recall work order"))
DECOMMISSION_READY = Guard(
    "decommission_ready",
    gettext_lazy("decommissioning checklist complete and both sign-offs valid"),
    unbound_reason=gettext_lazy("decommissioning checklist not found"),
)

GUARDS: dict[str, Guard] = {g.name: g for g in (IS_LOCATED, IS_SERVICEABLE, DECOMMISSION_READY)}
