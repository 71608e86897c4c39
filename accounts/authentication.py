"""``Authorization: Token <key>`` for the API, against hashed, expiring, revocable tokens (accounts.models)."""

from __future__ import annotations

from rest_framework import exceptions, permissions
from rest_framework.authentication import TokenAuthentication

from accounts import services
from config.security_events import security_event


class ApiTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key):
        token = services.api_token_authenticate(key)
        if token is None:
            security_event("api.token_refused", token=key[: services.KEY_LENGTH])
            raise exceptions.AuthenticationFailed("the token is not valid (unknown, expired or revoked)")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("the token's user is inactive")
        return token.user, token


class StepUpRequired(exceptions.PermissionDenied):
    default_code = "step_up_required"


class FreshSignInRequired(permissions.BasePermission):
    """Checklist sign-off and decommissioning: a step-up token (POST /api/v1/auth/step-up/), or a session that
    signed in (with its second factor) within FRESH_SIGNIN_MINUTES. A plain long-lived token is refused."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        if services.request_signin_is_fresh(request._request):
            return True
        security_event(
            "api.step_up_refused",
            username=request.user.get_username() if request.user.is_authenticated else "",
            path=request.path,
        )
        raise StepUpRequired(
            "this action needs a fresh sign-in: get a step-up token with POST /api/v1/auth/step-up/ "
            "(username, password, otp_code) and send it as Authorization: Token <key>"
        )
