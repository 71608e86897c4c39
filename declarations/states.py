"""The lifecycle states: ONE declaration per state, reused by every interface (declarations layer).

Each state is declared once below, with its machine name, label, definition, colour, icon and
shape. ``AssetState`` (the model field's choices), the admin badge, the map legend,
``GET /api/v1/states/`` and ``docs/states.md`` (``python manage.py document_states``) are all
built from these declarations, so "available" means the same thing everywhere.

Colour is never the only signal: every state also has its own icon and its own marker shape, and a
fill pattern, so the map and the admin stay readable for colour-blind staff and on grey printouts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace

from django.db import models
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True, slots=True)
class StateDefinition:
    value: str  # machine name, stored in the database and used by the API
    label: str  # declared with gettext_lazy; STATE_DEFINITIONS gives it as str in the active language
    definition: str  # the one agreed meaning; shown in the admin, map, API and docs
    colour: str  # background colour, "#rrggbb"; white text on it meets WCAG AA contrast
    icon: str  # a single Unicode symbol, so it renders without an icon font (intranets are offline)
    shape: str  # map marker shape, unique per state
    pattern: str  # fill pattern hint: solid, stripes, dots, hatch, outline
    usable: bool  # may be handed to a patient now
    terminal: bool  # no transition leaves it

    def as_dict(self) -> dict:
        return asdict(self)


_DECLARATIONS: tuple[StateDefinition, ...] = (
    StateDefinition(
        value="available",
        label=_("Available"),
        definition=_(
            "Clean, working, PM and calibration not overdue, no open recall, not reserved or in use. "
            "Can be handed to a patient now."
        ),
        colour="#1a7f37",
        icon="✓",
        shape="circle",
        pattern="solid",
        usable=True,
        terminal=False,
    ),
    StateDefinition(
        value="reserved",
        label=_("Reserved"),
        definition=_("Claimed by a dispatch request and on its way. Nobody else may take it."),
        colour="#0550ae",
        icon="⚑",
        shape="diamond",
        pattern="solid",
        usable=False,
        terminal=False,
    ),
    StateDefinition(
        value="in_use",
        label=_("In use"),
        definition=_("With a patient or a procedure."),
        colour="#6f42c1",
        icon="▶",
        shape="square",
        pattern="solid",
        usable=False,
        terminal=False,
    ),
    StateDefinition(
        value="soiled",
        label=_("Soiled"),
        definition=_("Used and returned, or found in a soiled utility room. Must be reprocessed before use."),
        colour="#9a3412",
        icon="✗",
        shape="triangle",
        pattern="stripes",
        usable=False,
        terminal=False,
    ),
    StateDefinition(
        value="cleaning",
        label=_("Cleaning"),
        definition=_("Being reprocessed by environmental services or central equipment."),
        colour="#0e7490",
        icon="≈",
        shape="hexagon",
        pattern="dots",
        usable=False,
        terminal=False,
    ),
    StateDefinition(
        value="biomed",
        label=_("Biomed"),
        definition=_("With clinical engineering for PM, repair, calibration or recall work. Not usable."),
        colour="#b91c1c",
        icon="✚",
        shape="cross",
        pattern="hatch",
        usable=False,
        terminal=False,
    ),
    StateDefinition(
        value="decommissioned",
        label=_("Decommissioned"),
        definition=_("Permanently retired after the decommissioning checklist and dual sign-off. Terminal."),
        colour="#57606a",
        icon="⊘",
        shape="ring",
        pattern="outline",
        usable=False,
        terminal=True,
    ),
)

# The model field's choices, built from the declarations above: AssetState.AVAILABLE == "available".
AssetState = models.TextChoices(
    "AssetState",
    [(d.value.upper(), (d.value, d.label)) for d in _DECLARATIONS],
    module=__name__,
)
AssetState.__doc__ = "Lifecycle state of an asset; see STATE_DEFINITIONS for the meaning of each."


class _Definitions(Mapping):
    """Keyed by machine name, in lifecycle order. Each read gives the label and definition as plain str in the
    active language (docs/translating.md); everything else is the same in every language."""

    def __init__(self, declarations: tuple[StateDefinition, ...]):
        self._by_value = {d.value: d for d in declarations}

    def __getitem__(self, value: str) -> StateDefinition:
        declared = self._by_value[value]
        return replace(declared, label=str(declared.label), definition=str(declared.definition))

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_value)

    def __len__(self) -> int:
        return len(self._by_value)


STATE_DEFINITIONS: Mapping[str, StateDefinition] = _Definitions(_DECLARATIONS)


def state_definition(state: str) -> StateDefinition:
    """The declaration of one state; raises ValueError naming the valid states for an unknown one."""
    try:
        return STATE_DEFINITIONS[str(state)]
    except KeyError:
        raise ValueError(f"unknown asset state {state!r}; valid states: {', '.join(STATE_DEFINITIONS)}") from None


def all_state_definitions() -> list[StateDefinition]:
    return list(STATE_DEFINITIONS.values())
