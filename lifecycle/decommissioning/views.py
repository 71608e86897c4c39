"""The certificate of sanitization and disposal: a printable page and its JSON export.

Only Clinical engineering, Security and superusers may see certificates.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.text import slugify

from lifecycle.decommissioning.models import DecommissioningCertificate
from lifecycle.decommissioning.selectors import (
    certificate_display,
    certificate_export,
    user_can_view_certificates,
)


def _certificate_for(request, pk) -> DecommissioningCertificate:
    if not user_can_view_certificates(request.user):
        raise PermissionDenied("Only Clinical engineering, Security and superusers may view certificates.")
    return get_object_or_404(DecommissioningCertificate.objects.select_related("asset"), pk=pk)


@login_required
def certificate_detail(request, pk):
    certificate = _certificate_for(request, pk)
    return render(
        request,
        "decommissioning/certificate_detail.html",
        {"certificate": certificate, **certificate_display(certificate)},
    )


@login_required
def certificate_json(request, pk):
    """The certificate, its SHA-256 and how to recompute it, in one self-describing file."""
    certificate = _certificate_for(request, pk)
    response = JsonResponse(certificate_export(certificate), json_dumps_params={"ensure_ascii": False, "indent": 2})
    filename = f"decommissioning-certificate-{slugify(certificate.asset.asset_tag)}-{certificate.pk}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
