"""POST /api/v1/rtls/sightings: gateway batches in (docs/design.md §5, docs/gateways.md).

| answer | when |
| --- | --- |
| 202 | the batch was queued: accepted and rejected counts, the reasons of the first 100 rejected items |
| 400 | the body is malformed (not JSON, no gateway, sightings not a list...): the message says what |
| 401 | no gateway token, or a bad or revoked one |
| 403 | the token may not post for the body's gateway (another gateway's token, or another site's) |
| 413 | the body is over INGEST_MAX_BODY_BYTES, or the batch has more items than INGEST_MAX_BATCH_ITEMS |
| 429 | the gateway posts faster than INGEST_THROTTLE_RATE (Retry-After says when to retry) |
| 503 | the queue is unavailable: nothing was taken, the gateway retries |
"""

from __future__ import annotations

import logging
import time
import zlib

import redis
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.access import refuse
from config.security_events import security_event
from declarations.policy import Action, allowed, gateway_principal
from locations.api.throttles import GatewayRateThrottle
from locations.engine.parsing import gateway_problem
from locations.engine.types import BatchError, BatchTooLarge, Rejection
from locations.ingest.adapters import VENDORS, adapt
from locations.ingest.auth import GatewayCredential, GatewayTokenAuthentication
from locations.ingest.codec import body_gateway, decode_any, decode_body
from locations.ingest.front import accept_body, gateway_directory
from locations.ingest.queue import QueueUnavailable

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class IsGateway(BasePermission):
    """A verified gateway credential whose principal the policy table lets post sightings
    (declarations/policy.py: a gateway's own token, a site collector). Users' tokens never pass."""

    message = "this endpoint takes gateway tokens only"

    def has_permission(self, request, view):
        if isinstance(request.auth, GatewayCredential) and allowed(
            {gateway_principal(gateway_id=request.auth.gateway_id)}, Action.INGEST_SIGHTINGS
        ):
            return True
        refuse(request.user, Action.INGEST_SIGHTINGS, door="http_ingest", path=request.path)
        return False


class GatewayTokenScheme(OpenApiAuthenticationExtension):
    target_class = GatewayTokenAuthentication
    name = "gatewayToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A gateway token (gwt_...)."}


def _read_body(request) -> bytes:
    limit = settings.INGEST_MAX_BODY_BYTES
    too_big = f"the body is over {limit} bytes; send smaller batches"
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(too_big)
        except ValueError:
            raise exceptions.ParseError(f"Content-Length {declared!r} is not a number") from None
    try:
        data = request.body
    except RequestDataTooBig:
        raise PayloadTooLarge(too_big) from None
    if len(data) > limit:
        raise PayloadTooLarge(too_big)
    encoding = (request.META.get("HTTP_CONTENT_ENCODING") or "identity").strip().lower()
    if encoding == "gzip":
        data = _gunzip(data, limit)
    elif encoding != "identity":
        raise exceptions.UnsupportedMediaType(encoding, detail=f"Content-Encoding {encoding!r} is not supported")
    return data


def _gunzip(data: bytes, limit: int) -> bytes:
    """Every member of a gzip body (several concatenated members are one valid gzip stream, as gzip and
    zcat read it), inflating at most limit + 1 bytes in all: a small "zip bomb" must not fill the memory."""
    inflated = bytearray()
    rest = data
    while rest:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            inflated += inflater.decompress(rest, limit + 1 - len(inflated))
        except zlib.error as exc:
            raise exceptions.ParseError(f"the gzip body cannot be decompressed: {exc}") from None
        if len(inflated) > limit:
            raise PayloadTooLarge(f"the decompressed body is over {limit} bytes; send smaller batches")
        if not inflater.eof:
            raise exceptions.ParseError("the gzip body cannot be decompressed: it ends in the middle of a member")
        rest = inflater.unused_data
        if not rest.strip(b"\0"):
            break  # zero padding after the last member, which gzip tolerates too
    return bytes(inflated)


def _decode_json(data: bytes, *, vendor: bool = False):
    """The body with the decoder of every front (codec.decode_body: MQTT and replay_sightings read a body the
    same way); a vendor payload into plain objects, for its adapter."""
    if not data.strip():
        raise exceptions.ParseError("the body is empty; send a JSON object (docs/design.md §5)")
    try:
        return decode_any(data) if vendor else decode_body(data)
    except RecursionError:
        raise exceptions.ParseError("the body is nested too deeply") from None
    except ValueError as exc:  # not JSON, not UTF-8, a lone surrogate, an integer of more than 4300 digits
        raise exceptions.ParseError(f"the body is not valid JSON: {exc}") from None


class SightingsView(APIView):
    authentication_classes = [GatewayTokenAuthentication]
    permission_classes = [IsGateway]
    throttle_classes: list = []  # per gateway, checked once the body says which gateway (below)
    renderer_classes = [JSONRenderer]
    parser_classes: list = []  # the raw body is read, size-checked and decoded here

    throttle_gateway = ""

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # Under ASGI each request runs in a thread of its own, so a connection kept for reuse
            # (CONN_MAX_AGE) is never reused and piles up until PostgreSQL refuses clients. This endpoint
            # touches the database rarely (cache misses): close what it opened.
            if connection.connection is not None and not connection.in_atomic_block:
                connection.close()

    def handle_exception(self, exc):
        # The database or the cache is out of reach (a failover, too many connections): the gateway should
        # retry, as it does for a full queue, rather than see a 500.
        if isinstance(exc, DatabaseError | QueueUnavailable | redis.RedisError):
            logger.warning("sightings: service unavailable: %s", exc)
            return Response(
                {"detail": "the service is temporarily unavailable; nothing was taken, retry"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "5"},
            )
        if isinstance(exc, exceptions.AuthenticationFailed):  # a bad or revoked gateway token
            security_event(
                "policy.refused",
                action=Action.INGEST_SIGHTINGS.value,
                door="http_ingest",
                principal="invalid gateway token",
                reason=str(exc.detail),
                source_address=self.request.META.get("REMOTE_ADDR", ""),
            )
        return super().handle_exception(exc)

    @extend_schema(
        summary="Post one gateway batch of BLE sightings",
        description=__doc__,
        request=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter("vendor", str, enum=list(VENDORS), description="a vendor body format (docs/gateways.md)"),
            OpenApiParameter("gateway", str, description="the receiver id, for vendor formats that do not carry it"),
        ],
        responses={
            202: OpenApiResponse(OpenApiTypes.OBJECT, description="queued; counts and per-item rejections"),
            400: OpenApiResponse(description="malformed body"),
            401: OpenApiResponse(description="missing or bad gateway token"),
            403: OpenApiResponse(description="the token may not post for this gateway"),
            413: OpenApiResponse(description="body too large"),
            429: OpenApiResponse(description="throttled, per gateway"),
            503: OpenApiResponse(description="queue unavailable, retry"),
        },
    )
    def post(self, request):
        received_at = time.time()
        credential: GatewayCredential = request.auth
        vendor = request.query_params.get("vendor")
        body = _decode_json(_read_body(request), vendor=bool(vendor))
        source_index = None
        if vendor:
            try:
                gateway_id = request.query_params.get("gateway") or credential.gateway_id
                adapted = adapt(vendor, body, gateway_id=gateway_id, now=received_at)
            except BatchError as exc:
                raise exceptions.ParseError(str(exc)) from None
            body, source_index = adapted.body, adapted.source_index

        gateway = body_gateway(body)
        if isinstance(gateway, str) and gateway.strip():
            problem = gateway_problem(gateway)
            if problem is not None:  # before any message names it: a lone surrogate cannot be rendered
                raise exceptions.ParseError(problem)
            site_id = gateway_directory.sites().get(gateway)
            if not credential.may_post_for(gateway, gateway_site_id=site_id):
                if credential.gateway_id is not None and vendor and request.query_params.get("gateway"):
                    # A gateway token is the gateway's identity: a URL naming another gateway is refused, not
                    # silently overridden (docs/gateways.md, "A Minew-style HTTP gateway").
                    detail = (
                        f"this token belongs to gateway {credential.gateway_id}; ?gateway={gateway} names another "
                        "gateway (with a gateway token leave ?gateway= out: the batch is filed under the token's)"
                    )
                elif credential.gateway_id is not None:
                    detail = f"this token belongs to gateway {credential.gateway_id}; it may not post for {gateway}"
                else:
                    detail = f"gateway {gateway} is not an active receiver of this token's site"
                refuse(request.user, Action.INGEST_SIGHTINGS, door="http_ingest", gateway=gateway, reason=detail)
                raise exceptions.PermissionDenied(detail)
            self.throttle_gateway = gateway
            throttle = GatewayRateThrottle()
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait())

        try:
            result = accept_body(body, received_at=received_at)
        except BatchTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from None
        except BatchError as exc:
            raise exceptions.ParseError(str(exc)) from None
        if source_index is not None:
            result.rejected = [Rejection(source_index[r.index], r.reason) for r in result.rejected]
        return Response(result.as_dict(), status=status.HTTP_202_ACCEPTED)
