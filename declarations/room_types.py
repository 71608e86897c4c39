"""Room types: declared once, reused by the floor-plan import, the admin, the API and the map."""

from django.db import models


class RoomType(models.TextChoices):
    PATIENT = "patient", "Patient room"
    CORRIDOR = "corridor", "Corridor"
    SOILED_UTILITY = "soiled_utility", "Soiled utility"
    CLEAN_UTILITY = "clean_utility", "Clean utility"
    BIOMED = "biomed", "Biomed workshop"
    STORAGE = "storage", "Equipment storage"
    NURSE_STATION = "nurse_station", "Nurse station"
    PROCEDURE = "procedure", "Procedure room"
    EXIT = "exit", "Exit"
    OTHER = "other", "Other"
