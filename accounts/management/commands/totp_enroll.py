"""Set up two-factor sign-in for a user: python manage.py totp_enroll USERNAME [--replace].

Prints the otpauth:// URI once: give it to the person (scan it as a QR code or type the secret into any
authenticator app). The secret is stored for verification; treat the printed URI like a password.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import totp_devices, totp_enroll


class Command(BaseCommand):
    help = "Give USERNAME a TOTP authenticator and print its otpauth:// URI (once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--replace", action="store_true", help="remove the user's existing authenticators first")

    def handle(self, *args, username, replace=False, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if totp_devices(user) and not replace:
            raise CommandError(f"{username} already has an authenticator; use --replace to issue a new one")
        device = totp_enroll(user, replace=replace)
        self.stderr.write(f"authenticator for {username}: add this URI to the app (shown once):")
        self.stdout.write(device.config_url)
