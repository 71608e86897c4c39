"""The transitions' names and labels (docs/lifecycle.md), declared once.

The Asset model implements each as a django-fsm ``@transition`` method of the same name, except
``return``, a Python keyword, whose method is ``return_``.
"""

from __future__ import annotations

import keyword

from django.db import models


class TransitionName(models.TextChoices):
    RESERVE = "reserve", "Reserve"
    RELEASE = "release", "Release reservation"
    DELIVER = "deliver", "Deliver"
    START_USE = "start_use", "Start use"
    RETURN = "return", "Return after use"
    START_CLEANING = "start_cleaning", "Start cleaning"
    FINISH_CLEANING = "finish_cleaning", "Finish cleaning"
    SEND_TO_BIOMED = "send_to_biomed", "Send to biomed"
    RETURN_TO_SERVICE = "return_to_service", "Return to service"
    DECOMMISSION = "decommission", "Decommission"
    APPLY_ROOM_RULE = "apply_room_rule", "Room-type rule"


# Transitions that refuse to run without a note saying why.
REASON_REQUIRED = frozenset({TransitionName.SEND_TO_BIOMED})


def method_name(transition: str) -> str:
    return f"{transition}_" if keyword.iskeyword(transition) else str(transition)


def transition_name(method: str) -> str:
    """The inverse of method_name: "return_" -> "return"."""
    base = method.removesuffix("_")
    return base if keyword.iskeyword(base) else method
