"""Room types: declared once, reused by the floor-plan import, the admin, the API and the map."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RoomType(models.TextChoices):
    PATIENT = "patient", _("Patient room")
    CORRIDOR = "corridor", _("Corridor")
    SOILED_UTILITY = "soiled_utility", _("Soiled utility")
    CLEAN_UTILITY = "clean_utility", _("Clean utility")
    BIOMED = "biomed", _("Biomed workshop")
    STORAGE = "storage", _("Equipment storage")
    NURSE_STATION = "nurse_station", _("Nurse station")
    PROCEDURE = "procedure", _("Procedure room")
    EXIT = "exit", _("Exit")
    OTHER = "other", _("Other")
