"""Issue, rotate or revoke API tokens: python manage.py issue_token USERNAME [--rotate | --revoke] [--days N].

Tokens authenticate systems and scripts on /api/v1/ (Authorization: Token <key>) with that user's roles.
Only a hash is stored: the token is printed once, here, and can never be shown again (issue a new one
if it is lost). They expire after API_TOKEN_DAYS (or --days) and are listed and revoked in the admin
under "API tokens".
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import services
from accounts.models import ApiToken, ApiTokenKind


class Command(BaseCommand):
    help = "Issue USERNAME a new API token (printed once); --rotate revokes the old ones, --revoke only revokes."

    def add_arguments(self, parser):
        parser.add_argument("username")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--rotate", action="store_true", help="revoke the user's live tokens and issue a new one")
        action.add_argument("--revoke", action="store_true", help="revoke the user's live tokens, issue none")
        parser.add_argument("--days", type=int, help="days until the new token expires (default: API_TOKEN_DAYS)")
        parser.add_argument("--label", default="manage.py issue_token", help="what the token is for")

    @transaction.atomic
    def handle(self, *args, username, rotate=False, revoke=False, days=None, label="", **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"no user {username!r}; create it in the admin or with createsuperuser") from None
        if days is not None and not 1 <= days <= 3660:
            raise CommandError(f"--days must be between 1 and 3660, got {days}")
        if revoke:
            live = ApiToken.objects.filter(user=user, kind=ApiTokenKind.API, revoked_at__isnull=True)
            count = sum(services.api_token_revoke(token=token) for token in live)
            self.stderr.write(f"revoked {count} token(s) of {username}")
            return
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; a token for it would not authenticate")
        lifetime = timedelta(days=days) if days else None
        if rotate:
            issued = services.api_token_rotate(user=user, label=label, lifetime=lifetime)
        else:
            issued = services.api_token_issue(user=user, label=label, lifetime=lifetime)
        roles = ", ".join(user.groups.order_by("name").values_list("name", flat=True)) or "no role"
        self.stderr.write(
            f"{'rotated' if rotate else 'issued'} token for {username} ({roles}), expires "
            f"{issued.token.expires_at:%Y-%m-%d %H:%M} UTC; it is shown this once:"
        )
        self.stdout.write(issued.raw)
