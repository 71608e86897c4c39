"""The landing page and the health check. Everything else lives in the apps."""

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from assets.selectors import asset_counts_by_type
from locations.selectors import site_summaries


def home(request):
    return render(
        request,
        "home.html",
        {"sites": site_summaries(), "asset_types": asset_counts_by_type()},
    )


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
