"""Sign-in endpoints: the lockout answer, the API's step-up token, and revoking one's own token."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import ApiToken
from config.api import error_body


def locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE): 429, JSON for the API, a page otherwise."""
    minutes = settings.AXES_COOLOFF_TIME * 60
    message = (
        f"Too many failed sign-in attempts: this account is locked on this computer for {minutes:.0f} minutes. "
        "Ask the service desk if you need in sooner."
    )
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code="locked_out", message=message), status=429)
    return render(request, "signin/locked_out.html", {"message": message}, status=429)


class StepUpInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False)
    otp_code = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")


STEP_UP_RESPONSE = inline_serializer(
    "StepUpToken",
    {
        "token": serializers.CharField(help_text="Send as Authorization: Token <token>; shown once."),
        "expires_at": serializers.DateTimeField(),
        "kind": serializers.CharField(),
    },
)


class StepUpView(APIView):
    """POST username, password and otp_code: a short-lived token for checklist sign-off and decommissioning."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Get a short-lived step-up token (password + one-time code)",
        description="Checklist sign-off and decommissioning refuse a long-lived token (403 step_up_required). "
        "This token lives FRESH_SIGNIN_MINUTES. Failed attempts count towards the sign-in lockout (429 locked_out).",
        request=StepUpInputSerializer,
        responses={201: STEP_UP_RESPONSE},
    )
    def post(self, request):
        body = StepUpInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            issued = services.step_up_issue(
                request._request,
                username=body.validated_data["username"],
                password=body.validated_data["password"],
                code=body.validated_data["otp_code"],
            )
        except services.SignInError as exc:
            return Response(error_body(code=exc.code, message=exc.message), status=exc.status)
        return Response(
            {"token": issued.raw, "expires_at": issued.token.expires_at, "kind": issued.token.kind},
            status=status.HTTP_201_CREATED,
        )


class CurrentTokenView(APIView):
    """DELETE: revoke the token this request was made with (a script signing out)."""

    @extend_schema(summary="Revoke the token you are using", request=None, responses={204: None})
    def delete(self, request):
        if not isinstance(request.auth, ApiToken):
            return Response(
                error_body(code="not_a_token", message="this request was not made with an API token"), status=400
            )
        services.api_token_revoke(token=request.auth, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
