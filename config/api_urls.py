"""Everything under /api/v1/: each app's API urls, the OpenAPI schema and the offline Swagger UI."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.api import api_not_found

urlpatterns = [
    path("", include("assets.api.urls")),
    path("", include("lifecycle.api.urls")),
    path("", include("lifecycle.requests.api.urls")),
    path("", include("lifecycle.webhooks.api.urls")),
    path("", include("locations.api.resource_urls")),
    path("", include("locations.api.urls")),  # RTLS gateway ingest
    path("", include("accounts.urls")),  # step-up token, revoke own token
    path("", include("floormap.api_urls")),  # the floor map's calls (session + CSRF, not tokens)
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: the Content-Security-Policy forbids inline scripts.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: unknown API URLs get a JSON 404 too, a newline in them included (/api/v1/assets/1%0a/: "." would not
    # match it). Not the (?s) flag: Django cannot reverse a pattern with an inline flag.
    re_path(r"^[\s\S]*$", api_not_found),
]
