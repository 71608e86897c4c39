"""API tokens: hashed, expiring, revocable (docs/security.md).

A token is shown once, when it is issued, and never again: only its SHA-256 is stored. ``key`` (the first
12 characters of the token) is public and finds the row; the digest is compared in constant time.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _


class ApiTokenKind(models.TextChoices):
    API = "api", _("API token (long-lived)")
    STEP_UP = "step_up", _("step-up (short-lived, password + second factor)")


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    key = models.CharField(
        max_length=12, unique=True, help_text=_("The token's first 12 characters (not secret)."), verbose_name=_("key")
    )
    digest = models.CharField(
        max_length=64,
        help_text=_("SHA-256 of the whole token; the token itself is not stored."),
        verbose_name=_("digest"),
    )
    kind = models.CharField(
        max_length=10, choices=ApiTokenKind.choices, default=ApiTokenKind.API, verbose_name=_("kind")
    )
    label = models.CharField(max_length=100, blank=True, verbose_name=_("label"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("issued by"),
    )

    class Meta:
        verbose_name_plural = gettext_lazy("API tokens")
        verbose_name = "API token"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="apitoken_user_live")]

    def __str__(self):
        return f"{self.key}… ({self.user}, {self.get_kind_display()})"

    @property
    def is_step_up(self) -> bool:
        return self.kind == ApiTokenKind.STEP_UP

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "live" if self.expires_at > timezone.now() else "expired"
