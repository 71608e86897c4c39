"""Move the plain-text DRF tokens (rest_framework.authtoken) into hashed, expiring API tokens.

Each existing token keeps working with the same ``Authorization: Token <key>`` header until it expires
(API_TOKEN_DAYS from this migration); its plain-text row is deleted. Nothing is lost: clients keep their key.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def hash_existing_tokens(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("accounts", "ApiToken")
    now = timezone.now()
    expires = now + timedelta(days=getattr(settings, "API_TOKEN_DAYS", 90))
    for old in Token.objects.all():
        ApiToken.objects.create(
            user_id=old.user_id,
            key=old.key[:12],
            digest=hashlib.sha256(old.key.encode()).hexdigest(),
            kind="api",
            label="moved from the old plain-text token",
            created_at=old.created or now,
            expires_at=expires,
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_api_tokens"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(hash_existing_tokens, migrations.RunPython.noop)]
