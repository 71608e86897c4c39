"""The transitions' names and labels (docs/lifecycle.md), declared once.

The Asset model implements each as a django-fsm ``@transition`` method of the same name, except
``return``, a Python keyword, whose method is ``return_``.
"""

from __future__ import annotations

import keyword

from django.db import models
from django.utils.translation import gettext_lazy as _


class TransitionName(models.TextChoices):
    RESERVE = "reserve", _("Reserve")
    RELEASE = "release", _("Release reservation")
    DELIVER = "deliver", _("Deliver")
    START_USE = "start_use", _("Start use")
    RETURN = "return", _("Return after use")
    START_CLEANING = "start_cleaning", _("Start cleaning")
    FINISH_CLEANING = "finish_cleaning", _("Finish cleaning")
    SEND_TO_BIOMED = "send_to_biomed", _("Send to biomed")
    RETURN_TO_SERVICE = "return_to_service", _("Return to service")
    DECOMMISSION = "decommission", _("Decommission")
    APPLY_ROOM_RULE = "apply_room_rule", _("Room-type rule")


# Transitions that refuse to run without a note saying why.
REASON_REQUIRED = frozenset({TransitionName.SEND_TO_BIOMED})


def method_name(transition: str) -> str:
    return f"{transition}_" if keyword.iskeyword(transition) else str(transition)


def transition_name(method: str) -> str:
    """The inverse of method_name: "return_" -> "return"."""
    base = method.removesuffix("_")
    return base if keyword.iskeyword(base) else method
