"""The demo hospital (`python manage.py seed_demo`): where its data files are, and its users.

The floor plans and the asset register live in ``demo/`` (written by ``demo/generate.py``) and are
loaded through the real import commands. What the files cannot carry lives here: one user per role,
with demo passwords that are printed and documented (``demo/README.md``), and the asset types'
planned-maintenance intervals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from assets.codings import SNOMED_CT
from assets.models import Asset, AssetType, Tag
from declarations.roles import Role
from locations.models import Building, Floor, Receiver, Room, Site

DEMO_DIR = Path(settings.BASE_DIR) / "demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: Role | None  # None: the administrator, who is a superuser instead
    first_name: str
    last_name: str
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def role_label(self) -> str:
        return self.role.label if self.role else "Administrator (superuser)"


DEMO_USERS = (
    DemoUser("nurse", "nurse-demo-2026", Role.NURSE, "Nora", "Lindqvist"),
    DemoUser("dispatch", "dispatch-demo-2026", Role.DISPATCH, "Dev", "Okafor"),
    DemoUser("biomed", "biomed-demo-2026", Role.CLINICAL_ENGINEERING, "Bea", "Marchetti", is_staff=True),
    DemoUser("security", "security-demo-2026", Role.SECURITY, "Sam", "Haugen", is_staff=True),
    DemoUser("admin", "admin-demo-2026", None, "Ada", "Admin", is_staff=True, is_superuser=True),
)

# Typical manufacturer-recommended PM intervals, kept with the demo data (demo/asset_types.json).
# Only applied when seed_demo creates the type; an interval changed in the admin is kept.
_DEMO_TYPES = json.loads((DEMO_DIR / "asset_types.json").read_text(encoding="utf-8"))
DEMO_PM_INTERVAL_DAYS = _DEMO_TYPES["pm_interval_days"]
# SNOMED CT coding of each demo type (FHIR Device.type; docs/fhir.md). Set when the type has no coding yet.
DEMO_TYPE_SNOMED_CT = _DEMO_TYPES.get("snomed_ct", {})


class DemoSetupError(Exception):
    """The demo cannot be seeded; the message says what to do."""


@dataclass(frozen=True)
class DemoUserOutcome:
    user: DemoUser
    created: bool


def demo_floorplan_paths() -> list[Path]:
    return sorted((DEMO_DIR / "floorplans").glob("*.geojson"))


def demo_assets_path() -> Path:
    return DEMO_DIR / "assets.csv"


@transaction.atomic
def demo_asset_types_ensure() -> list[str]:
    """Create the demo's asset types with realistic PM intervals; existing types are left alone."""
    created = []
    for name, days in DEMO_PM_INTERVAL_DAYS.items():
        exists = (
            AssetType.objects.filter(name__iexact=name).exists()
            or AssetType.objects.filter(slug=slugify(name)).exists()
        )
        if not exists:
            AssetType.objects.create(name=name, slug=slugify(name), default_pm_interval_days=days)
            created.append(name)
    for name, coding in DEMO_TYPE_SNOMED_CT.items():
        AssetType.objects.filter(Q(name__iexact=name) | Q(slug=slugify(name)), code="").update(
            code_system=SNOMED_CT, code=coding["code"], code_display=coding["display"]
        )
    return created


@transaction.atomic
def demo_users_ensure() -> list[DemoUserOutcome]:
    """Create the missing demo users, each in its role group.

    A user that already exists is left exactly as it is: an administrator may have changed its
    password or roles, and a re-run must not undo that.
    """
    User = get_user_model()
    outcomes = []
    for spec in DEMO_USERS:
        if User.objects.filter(username=spec.username).exists():
            outcomes.append(DemoUserOutcome(spec, created=False))
            continue
        user = User(
            username=spec.username,
            first_name=spec.first_name,
            last_name=spec.last_name,
            is_staff=spec.is_staff,
            is_superuser=spec.is_superuser,
        )
        group = None
        if spec.role is not None:
            group = Group.objects.filter(name=spec.role.group_name).first()
            if group is None:
                raise DemoSetupError(
                    f'the role group "{spec.role.group_name}" is missing; run `python manage.py migrate` first'
                )
        user.set_password(spec.password)
        user.save()
        if group is not None:
            user.groups.add(group)
        outcomes.append(DemoUserOutcome(spec, created=True))
    return outcomes


def demo_counts() -> dict[str, int]:
    """What the demo hospital holds now, for the summary seed_demo prints."""
    return {
        "sites": Site.objects.count(),
        "buildings": Building.objects.count(),
        "floors": Floor.objects.count(),
        "rooms": Room.objects.count(),
        "receivers": Receiver.objects.count(),
        "asset types": AssetType.objects.count(),
        "assets": Asset.objects.count(),
        "tags bound": Tag.objects.filter(asset__isnull=False).count(),
    }
