"""/fhir/r4/: metadata, Location and Device read and search, our SearchParameters. JSON only.

Thin callers: parsing and filtering live in fhir/search.py, the mapping in fhir/mappers.py, who may read in
fhir/access.py. Every error, from a bad parameter to a missing token, is an OperationOutcome with the
matching HTTP status.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from django.http import Http404
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from assets.models import Asset
from fhir import access
from fhir import definitions as d
from fhir.capability import capability_statement, custom_search_parameters
from fhir.mappers import device_resource, location_resource
from fhir.search import KINDS, LOCATION_ID_RE, SearchError, device_filter, location_filters, parse_query
from locations.freshness import assets_with_location_status
from locations.models import Building, Floor, Room, Site

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"


class FhirJsonRenderer(BaseRenderer):
    media_type = FHIR_JSON
    format = "fhir+json"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        request = (renderer_context or {}).get("request")
        pretty = request is not None and request.query_params.get("_pretty") == "true"
        return json.dumps(
            data,
            cls=DjangoJSONEncoder,
            ensure_ascii=False,
            indent=2 if pretty else None,
            separators=None if pretty else (",", ":"),
        ).encode("utf-8")


class PlainJsonRenderer(FhirJsonRenderer):
    media_type = "application/json"
    format = "json"


# _format values we honour (FHIR R4 §3.1.0.1.10); "json" answers application/fhir+json.
FORMATS = {
    "json": FhirJsonRenderer,
    "application/fhir+json": FhirJsonRenderer,
    "application/json+fhir": FhirJsonRenderer,
    "application/json": PlainJsonRenderer,
}


def operation_outcome(code: str, message: str, *, severity: str = "error") -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": message}]}


def fhir_exception_handler(exc, context):
    """Every refusal as an OperationOutcome (issue-type codes) with the right status."""
    headers = {}
    if isinstance(exc, SearchError):
        return Response(operation_outcome(exc.code, exc.message), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if exc.args and str(exc) else None)
    if isinstance(exc, exceptions.APIException):
        code = {
            400: "invalid",
            401: "login",
            403: "forbidden",
            404: "not-found",
            405: "not-supported",
            406: "not-supported",
            415: "not-supported",
            429: "throttled",
        }.get(exc.status_code, "processing")
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return Response(operation_outcome(code, str(detail)), status=exc.status_code, headers=headers)
    logger.exception("FHIR: unexpected error")
    return Response(operation_outcome("exception", "internal error; the server log has the details"), status=500)


def _release_rendered(response) -> None:
    """Once the JSON is rendered, drop the resources it was made from. DRF keeps the response and its view in
    a reference cycle (``view.response``, ``response.renderer_context["view"]``), so a page's 100 Device
    dicts would otherwise stay alive until the garbage collector's next full pass, and make that pass slow
    (docs/benchmarks.md, FHIR Device search)."""
    response.data = None
    response.renderer_context = None


class FhirView(APIView):
    renderer_classes = [FhirJsonRenderer, PlainJsonRenderer]
    parser_classes = []
    schema = None  # not part of the /api/v1/ OpenAPI schema: /fhir/r4/metadata describes these routes

    def get_exception_handler(self):
        return fhir_exception_handler

    def dispatch(self, request, *args, **kwargs):
        """FHIR speaks the source language whatever Accept-Language says (docs/translating.md): its readers
        are other systems, and OperationOutcome texts and codings' displays are matched and logged by them.
        Authentication (401), throttling (429), negotiation (406) and 405 happen inside dispatch, so their
        texts come out in English too; Content-Language says so (LocaleMiddleware only sets it if absent)."""
        with translation.override(settings.LANGUAGE_CODE):
            response = super().dispatch(request, *args, **kwargs)
        response.headers["Content-Language"] = settings.LANGUAGE_CODE
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response):
            response.add_post_render_callback(_release_rendered)
        return response

    def perform_content_negotiation(self, request, force=False):
        fmt = request.query_params.get("_format")
        if fmt is not None:
            renderer = FORMATS.get(fmt.strip().lower().split(";")[0].strip())
            if renderer is not None:
                return renderer(), renderer.media_type
            if not force:
                raise exceptions.NotAcceptable(
                    f"_format {fmt[:60]!r} is not supported: this server speaks JSON only "
                    "(_format=json, application/fhir+json or application/json)"
                )
            return FhirJsonRenderer(), FHIR_JSON
        try:
            return super().perform_content_negotiation(request, force)
        except exceptions.NotAcceptable:
            # application/json+fhir is the DSTU2-era name of FHIR JSON, still sent by many clients: accepted
            # in Accept as in _format, answered application/fhir+json (the R4 name).
            accepted = {part.split(";")[0].strip().lower() for part in request.headers.get("Accept", "").split(",")}
            if "application/json+fhir" in accepted:
                return FhirJsonRenderer(), FHIR_JSON
            raise


def fhir_base(request) -> str:
    return request.build_absolute_uri(reverse("fhir:metadata"))[: -len("metadata")]


def _lenient(request) -> bool:
    return "handling=lenient" in request.headers.get("Prefer", "").replace(" ", "")


def _url(request, **changes) -> str:
    pairs = [(k, v) for k, values in request.query_params.lists() for v in values if k not in changes]
    pairs += [(k, v) for k, v in changes.items() if v is not None]
    base = request.build_absolute_uri(request.path)
    return f"{base}?{urlencode(pairs)}" if pairs else base


def search_bundle(request, resource_type: str, resources: list[dict], *, total: int, query) -> dict:
    links = [{"relation": "self", "url": _url(request, _offset=str(query.offset) if query.offset else None)}]
    if query.count and query.offset + query.count < total:
        links.append({"relation": "next", "url": _url(request, _offset=str(query.offset + query.count))})
    if query.count and query.offset > 0:
        previous = max(query.offset - query.count, 0)
        links.append({"relation": "previous", "url": _url(request, _offset=str(previous) if previous else None)})
    base = fhir_base(request)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {"fullUrl": f"{base}{resource_type}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


class MetadataView(FhirView):
    """The CapabilityStatement: public, as FHIR clients read it before they authenticate."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response(capability_statement(base_url=fhir_base(request)))


class SearchParameterReadView(FhirView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request, id):
        resource = custom_search_parameters().get(id)
        if resource is None:
            raise Http404(
                f"SearchParameter/{id} is not known; this server defines {', '.join(custom_search_parameters())}"
            )
        return Response(resource)


class NotFoundView(FhirView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def _not_found(self, request, *args, **kwargs):
        raise exceptions.NotFound(
            f"{request.path} is not supported: see {reverse('fhir:metadata')} (Location and Device read, search)"
        )

    get = post = put = patch = delete = _not_found

    def http_method_not_allowed(self, request, *args, **kwargs):
        self._not_found(request)


# --- Location -----------------------------------------------------------------------------------------

LOCATION_QUERYSETS = {
    d.SITE: lambda: Site.objects.all(),
    d.BUILDING: lambda: Building.objects.select_related("site"),
    d.FLOOR: lambda: Floor.objects.select_related("building__site"),
    d.ROOM: lambda: Room.objects.select_related("floor__building__site"),
}


class LocationView(FhirView):
    authentication_classes = access.LOCATION_AUTHENTICATION
    permission_classes = access.LOCATION_PERMISSIONS


class LocationReadView(LocationView):
    def get(self, request, id):
        found = LOCATION_ID_RE.match(id)
        obj = LOCATION_QUERYSETS[found.group(1)]().filter(pk=int(found.group(2))).first() if found else None
        if obj is None:
            raise Http404(f"Location/{id} is not known (ids are site-N, building-N, floor-N, room-N)")
        return Response(location_resource(obj))


class LocationSearchView(LocationView):
    def get(self, request):
        query = parse_query("Location", request.query_params, lenient=_lenient(request))
        filters = location_filters(query)
        querysets = [
            (kind, LOCATION_QUERYSETS[kind]().filter(filters[kind]).order_by("pk")) for kind in KINDS if kind in filters
        ]
        counts = [(kind, qs, qs.count()) for kind, qs in querysets]
        total = sum(count for _, _, count in counts)
        page, skip, want = [], query.offset, query.count
        for _kind, qs, count in counts:
            if want <= 0:
                break
            if skip >= count:
                skip -= count
                continue
            rows = list(qs[skip : skip + want])
            page += rows
            want -= len(rows)
            skip = 0
        resources = [location_resource(obj) for obj in page]
        return Response(search_bundle(request, "Location", resources, total=total, query=query))


# --- Device -------------------------------------------------------------------------------------------


def device_queryset(now=None):
    """The /api/v1/ asset list's queryset: location status in SQL, type, tag and room in the same query.

    The tag's id is an annotation, not select_related("tag"): that reverse one-to-one would make each asset and
    its tag a reference cycle (fhir/mappers.py, _rtls_tag_id)."""
    return assets_with_location_status(
        queryset=Asset.objects.select_related("asset_type").annotate(rtls_tag_id=F("tag__tag_id")), now=now
    )


class DeviceView(FhirView):
    authentication_classes = access.DEVICE_AUTHENTICATION
    permission_classes = access.DEVICE_PERMISSIONS


class DeviceReadView(DeviceView):
    def get(self, request, id):
        asset = device_queryset().filter(pk=int(id)).first() if id.isdigit() and len(id) <= 18 else None
        if asset is None:
            raise Http404(f"Device/{id} is not known")
        return Response(device_resource(asset, security_fields=access.may_read_security_fields(request)))


class DeviceSearchView(DeviceView):
    def get(self, request):
        query = parse_query("Device", request.query_params, lenient=_lenient(request))
        now = timezone.now()
        queryset = device_queryset(now).filter(device_filter(query, now=now)).order_by("pk")
        total = queryset.count()
        page = list(queryset[query.offset : query.offset + query.count]) if query.count else []
        security = access.may_read_security_fields(request)
        resources = [device_resource(asset, security_fields=security) for asset in page]
        return Response(search_bundle(request, "Device", resources, total=total, query=query))
