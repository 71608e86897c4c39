"""Load the demo hospital: floor plans and assets through the real import commands, then the demo users."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.demo import demo_totp_ensure
from assets.demo import (
    DemoSetupError,
    demo_asset_types_ensure,
    demo_assets_path,
    demo_counts,
    demo_floorplan_paths,
    demo_users_ensure,
)
from lifecycle.biomed.demo import demo_biomed_ensure


class Command(BaseCommand):
    help = (
        "Load the demo hospital (St Olaf General: 2 buildings, 6 floors, ~180 rooms, ~850 assets) from demo/ "
        "through import_floorplan and import_assets, and create one user per role with a demo password. "
        "Safe to run again: imports are upserts, and existing users are left as they are. "
        "Refuses to run with DEBUG off unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off. The demo users have published passwords: never on a real system.",
        )

    def handle(self, *args, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off, so this looks like a production system, and the demo users have published "
                "passwords. Nothing was changed. Use --force if this really is a demo or test installation."
            )
        floorplans, assets_csv = demo_floorplan_paths(), demo_assets_path()
        if not floorplans or not assets_csv.exists():
            raise CommandError(
                f"The demo data files are missing under {assets_csv.parent}; run `python demo/generate.py`."
            )
        try:
            with transaction.atomic():  # all or nothing: a refused import leaves no half-seeded hospital
                types_created = demo_asset_types_ensure()
                call_command("import_floorplan", *[str(p) for p in floorplans], stdout=self.stdout, stderr=self.stderr)
                call_command("import_assets", str(assets_csv), stdout=self.stdout, stderr=self.stderr)
                outcomes = demo_users_ensure()

                biomed_counts = demo_biomed_ensure()

                devices = demo_totp_ensure()  # biomed, security, admin: the admin asks them for a TOTP code
        except DemoSetupError as exc:
            raise CommandError(f"{exc}. Nothing was changed.") from None

        if types_created:
            self.stdout.write(f"Asset types created with their PM intervals: {', '.join(types_created)}")
        counts = {**demo_counts(), **biomed_counts}
        self.stdout.write(
            self.style.SUCCESS("Demo hospital ready: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        )
        self.stdout.write("")
        self.stdout.write("Demo logins (documented in demo/README.md):")
        for outcome in outcomes:
            spec = outcome.user
            note = "created" if outcome.created else "already existed, left unchanged (password not reset)"
            self.stdout.write(f"  {spec.username:<9} {spec.password:<20} {spec.role_label:<26} {note}")
        self.stdout.write("biomed, security and admin sign in to /admin/; everyone can use the API at /api/v1/.")
        self.stdout.write("They also give a one-time code: `manage.py demo_totp USERNAME` prints it, or add the")
        self.stdout.write("demo secret to an authenticator app (README):")
        for device in devices:
            self.stdout.write(f"  {device.user.username:<9} {device.config_url}")
