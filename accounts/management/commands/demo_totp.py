"""Print a user's current one-time code, for the demo: python manage.py demo_totp biomed.

Only with DEBUG on (or --force): on a real system the code comes from the person's authenticator app.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import current_code
from accounts.services import totp_devices


class Command(BaseCommand):
    help = "Print USERNAME's current TOTP code (demo and test installations only)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--force", action="store_true", help="even with DEBUG off (never on a real system)")

    def handle(self, *args, username, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("DEBUG is off: one-time codes come from the user's authenticator app, not from here.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        devices = totp_devices(user)
        if not devices:
            raise CommandError(f"{username} has no authenticator set up (manage.py totp_enroll {username})")
        code, remaining = current_code(devices[0])
        self.stderr.write(f"current code for {username} (valid for {remaining} more seconds, once):")
        self.stdout.write(code)
