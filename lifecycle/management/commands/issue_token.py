"""Print the API token of a user, creating it if needed: python manage.py issue_token USERNAME [--rotate].

Tokens authenticate systems and scripts on /api/v1/ (Authorization: Token <key>) with that user's roles.
They are listed, created and deleted in the admin under "Auth Token".
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print USERNAME's API token (created if missing; --rotate replaces it, revoking the old one)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="revoke the current token and issue a new one")

    @transaction.atomic
    def handle(self, *args, username, rotate=False, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"no user {username!r}; create it in the admin or with createsuperuser") from None
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; a token for it would not authenticate")
        if rotate:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        roles = ", ".join(user.groups.order_by("name").values_list("name", flat=True)) or "no role"
        self.stderr.write(f"{'issued' if created else 'existing'} token for {username} ({roles}):")
        self.stdout.write(token.key)
