"""/api/v1/assets/{id}/decommissioning/: the checklist, custody, tag detachment, sign-offs, decommission
and the certificate. Every write calls lifecycle.decommissioning.services; the refusals (role, version,
incomplete checklist, same person twice) come from there with their reasons."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import FreshSignInRequired
from assets.models import Asset
from config.api import AwareDateTimeField
from declarations.choices import EncryptionStatus
from lifecycle.api.permissions import MayWorkOnDecommissioning
from lifecycle.decommissioning import selectors, services
from lifecycle.decommissioning.choices import FinalDisposition, SanitizationMethod, SignOffRole
from lifecycle.decommissioning.models import DecommissioningChecklist, SignOff

# --- Schemas of the JSON the selectors produce ------------------------------------------------------

_PERSON = {
    "type": "object",
    "nullable": True,
    "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "full_name": {"type": "string"}},
}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time", "nullable": True}
CUSTODY_ENTRY_SCHEMA = {
    "type": "object",
    "properties": {
        "position": {"type": "integer"},
        "from": _STR,
        "to": _STR,
        "time": _TIME,
        "place": _STR,
        "container_or_seal_id": _STR,
        "note": _STR,
        "recorded_by": _PERSON,
        "recorded_at": _TIME,
    },
}
CHECKLIST_SCHEMA = {
    "type": "object",
    "properties": {
        "asset": {"type": "integer"},
        "asset_tag": _STR,
        "version": {"type": "integer", "description": "Send it back as expected_version / version."},
        "opened_at": _TIME,
        "opened_by": _PERSON,
        "data": {
            "type": "object",
            "properties": {
                "data_bearing": _BOOL,
                "data_bearing_note": _STR,
                "encryption_status": _STR,
                "encryption_status_confirmed": _BOOL,
                "sanitization_method": _STR,
                "sanitization_standard": _STR,
                "sanitization_tool": _STR,
                "sanitization_verification": _STR,
                "sanitized_by": _PERSON,
                "sanitized_by_name": _STR,
                "sanitized_on": {"type": "string", "format": "date", "nullable": True},
            },
        },
        "network": {
            "type": "object",
            "properties": {
                "networked": _BOOL,
                "networked_note": _STR,
                "credentials_revoked": _BOOL,
                "certificates_revoked": _BOOL,
                "allowlists_removed": _BOOL,
                "revocation_details": _STR,
            },
        },
        "rtls_tag": {
            "type": "object",
            "properties": {"detached": _BOOL, "tag_id": _STR, "detached_at": _TIME, "detached_by": _PERSON},
        },
        "disposition": {
            "type": "object",
            "properties": {"final_disposition": _STR, "recipient": _STR, "reference": _STR},
        },
        "custody_chain": {"type": "array", "items": CUSTODY_ENTRY_SCHEMA},
        "missing_items": {"type": "array", "items": _STR, "description": "What the checklist still lacks."},
        "sign_off_blockers": {"type": "array", "items": _STR},
        "ready_to_decommission": _BOOL,
        "decommissioned": _BOOL,
    },
}
CERTIFICATE_SCHEMA = {
    "type": "object",
    "properties": {
        "certificate": {"type": "object", "additionalProperties": True, "description": "The certificate as issued."},
        "content_sha256": _STR,
        "hash_algorithm": _STR,
        "hash_rule": _STR,
    },
}


def checklist_data(checklist: DecommissioningChecklist) -> dict:
    asset = checklist.asset
    missing = selectors.checklist_missing_items(checklist)
    sign_off_blockers = selectors.sign_off_blockers(checklist)
    return {
        "asset": asset.pk,
        "asset_tag": asset.asset_tag,
        **selectors.checklist_snapshot(checklist),
        "missing_items": missing,
        "sign_off_blockers": sign_off_blockers,
        "ready_to_decommission": not missing and not sign_off_blockers,
        "decommissioned": selectors.certificate_for_asset(asset) is not None,
    }


# --- Input ------------------------------------------------------------------------------------------


class ChecklistUpdateSerializer(serializers.Serializer):
    """Only the fields sent are changed. Any real change bumps the version and voids earlier sign-offs."""

    expected_version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you are looking at; refused (409) if it changed since."
    )
    data_bearing = serializers.BooleanField(required=False)
    data_bearing_note = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    encryption_status = serializers.ChoiceField(choices=EncryptionStatus.choices, required=False)
    encryption_status_confirmed = serializers.BooleanField(required=False)
    sanitization_method = serializers.ChoiceField(
        choices=[("", "(not recorded)"), *SanitizationMethod.choices], required=False, allow_blank=True
    )
    sanitization_tool = serializers.CharField(required=False, allow_blank=True, max_length=200)
    sanitization_verification = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    sanitized_by = serializers.IntegerField(required=False, allow_null=True, min_value=1, help_text="A user id.")
    sanitized_by_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    sanitized_on = serializers.DateField(required=False, allow_null=True)
    networked = serializers.BooleanField(required=False)
    networked_note = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    network_credentials_revoked = serializers.BooleanField(required=False)
    network_certificates_revoked = serializers.BooleanField(required=False)
    network_allowlists_removed = serializers.BooleanField(required=False)
    network_revocation_details = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    final_disposition = serializers.ChoiceField(
        choices=[("", "(not recorded)"), *FinalDisposition.choices], required=False, allow_blank=True
    )
    disposition_recipient = serializers.CharField(required=False, allow_blank=True, max_length=200)
    disposition_reference = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["unknown or read-only checklist field"] for name in unknown})
        return attrs


class CustodyEntryInputSerializer(serializers.Serializer):
    from_party = serializers.CharField(max_length=200)
    to_party = serializers.CharField(max_length=200)
    transferred_at = AwareDateTimeField(help_text="With a time zone; not before the previous hand-over.")
    place = serializers.CharField(max_length=200)
    container_or_seal_id = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    expected_version = serializers.IntegerField(required=False, min_value=1)


class SignOffInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=SignOffRole.choices)
    version = serializers.IntegerField(
        required=True,
        min_value=1,
        help_text="The checklist version you reviewed (required): the sign-off covers exactly that version and "
        "the asset's identity as they were; refused (409) if the checklist changed since.",
        error_messages={"required": "version is required: send the checklist version you reviewed"},
    )


class SignOffSerializer(serializers.ModelSerializer):
    signed_by = serializers.SerializerMethodField()
    valid = serializers.SerializerMethodField(help_text="Still valid: the checklist has not changed since.")

    class Meta:
        model = SignOff
        fields = ["id", "role", "signed_by", "signed_at", "checklist_version", "valid"]

    def get_signed_by(self, sign_off) -> str:
        return sign_off.signed_by.get_username()

    def get_valid(self, sign_off) -> bool:
        # Void once the checklist has a newer version or what it signed changed under it (a renamed type).
        return selectors.sign_off_void_reason(sign_off.checklist, sign_off) is None


class DecommissionInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


# --- Views ------------------------------------------------------------------------------------------


class _DecommissioningView(APIView):
    permission_classes = [MayWorkOnDecommissioning]

    def asset(self, asset_id) -> Asset:
        return get_object_or_404(Asset.objects.select_related("asset_type"), pk=asset_id)

    def checklist(self, asset: Asset) -> DecommissioningChecklist:
        checklist = selectors.checklist_for_asset(asset)
        if checklist is None:
            raise exceptions.NotFound(
                f"asset {asset} has no decommissioning checklist; POST to this URL opens one while it is in biomed"
            )
        return checklist


class ChecklistView(_DecommissioningView):
    @extend_schema(
        summary="The decommissioning checklist, what it still lacks and its sign-off status",
        responses={200: CHECKLIST_SCHEMA},
    )
    def get(self, request, asset_id):
        return Response(checklist_data(self.checklist(self.asset(asset_id))))

    @extend_schema(
        summary="Open the checklist (the asset must be in biomed); returns the existing one if open",
        request=None,
        responses={201: CHECKLIST_SCHEMA, 200: CHECKLIST_SCHEMA},
    )
    def post(self, request, asset_id):
        asset = self.asset(asset_id)
        existed = selectors.checklist_for_asset(asset) is not None
        checklist = services.checklist_open(asset=asset, user=request.user)
        checklist.refresh_from_db()
        return Response(checklist_data(checklist), status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change checklist fields", request=ChecklistUpdateSerializer, responses={200: CHECKLIST_SCHEMA}
    )
    def patch(self, request, asset_id):
        checklist = self.checklist(self.asset(asset_id))
        body = ChecklistUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        expected = changes.pop("expected_version", None)
        checklist = services.checklist_update(
            checklist=checklist, user=request.user, changes=changes, expected_version=expected
        )
        checklist.refresh_from_db()
        return Response(checklist_data(checklist))


class CustodyEntriesView(_DecommissioningView):
    @extend_schema(
        summary="Append a hand-over to the chain of custody",
        request=CustodyEntryInputSerializer,
        responses={201: CHECKLIST_SCHEMA},
    )
    def post(self, request, asset_id):
        checklist = self.checklist(self.asset(asset_id))
        body = CustodyEntryInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.custody_entry_add(checklist=checklist, user=request.user, **body.validated_data)
        checklist.refresh_from_db()
        return Response(checklist_data(checklist), status=status.HTTP_201_CREATED)


class TagDetachmentView(_DecommissioningView):
    @extend_schema(
        summary="Record that the RTLS tag is off the device (unbinds it, so it can be reused)",
        request=None,
        responses={200: CHECKLIST_SCHEMA},
    )
    def post(self, request, asset_id):
        checklist = self.checklist(self.asset(asset_id))
        checklist = services.checklist_record_tag_detached(checklist=checklist, user=request.user)
        checklist.refresh_from_db()
        return Response(checklist_data(checklist))


class SignOffsView(_DecommissioningView):
    permission_classes = [MayWorkOnDecommissioning, FreshSignInRequired]  # POST: a step-up token

    @extend_schema(
        summary="Every sign-off given, with whether it is still valid", responses=SignOffSerializer(many=True)
    )
    def get(self, request, asset_id):
        checklist = self.checklist(self.asset(asset_id))
        sign_offs = checklist.sign_offs.select_related("signed_by", "checklist").order_by("signed_at", "id")
        return Response(SignOffSerializer(sign_offs, many=True).data)

    @extend_schema(
        summary="Sign off the checklist as clinical_engineering or security",
        description="Refused (403) without the role; refused (409) with the reasons when the checklist is "
        "incomplete, changed since the version you reviewed, the role already signed, or you already signed "
        "in the other role (two different people must sign).",
        request=SignOffInputSerializer,
        responses={201: SignOffSerializer},
    )
    def post(self, request, asset_id):
        checklist = self.checklist(self.asset(asset_id))
        body = SignOffInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = body.validated_data["version"]
        sign_off = services.checklist_sign_off(
            checklist=checklist, user=request.user, role=body.validated_data["role"], version=version
        )
        return Response(SignOffSerializer(sign_off).data, status=status.HTTP_201_CREATED)


class DecommissionView(_DecommissioningView):
    permission_classes = [MayWorkOnDecommissioning, FreshSignInRequired]  # a step-up token

    @extend_schema(
        summary="Decommission the asset and issue its certificate",
        description="Runs the lifecycle decommission transition (Clinical engineering) once the checklist is "
        "complete and both sign-offs are valid; 409 with the blockers otherwise.",
        request=DecommissionInputSerializer,
        responses={201: CERTIFICATE_SCHEMA},
    )
    def post(self, request, asset_id):
        asset = self.asset(asset_id)
        body = DecommissionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        certificate = services.asset_decommission(asset=asset, user=request.user, note=body.validated_data["note"])
        return Response(selectors.certificate_export(certificate), status=status.HTTP_201_CREATED)


class CertificateView(_DecommissioningView):
    @extend_schema(
        summary="The certificate of sanitization and disposal, with its SHA-256", responses={200: CERTIFICATE_SCHEMA}
    )
    def get(self, request, asset_id):
        asset = self.asset(asset_id)
        certificate = selectors.certificate_for_asset(asset)
        if certificate is None:
            raise exceptions.NotFound(f"asset {asset} is not decommissioned: it has no certificate")
        return Response(selectors.certificate_export(certificate))
