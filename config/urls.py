from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # The language picker (POST set_language, stored in a cookie) and the map's JavaScript catalogue.
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/biomed/reports/", include("lifecycle.biomed.urls")),  # before admin/: its catch-all
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),  # every app's API, the schema and Swagger UI
    path("fhir/r4/", include("fhir.urls")),  # FHIR R4 read and search (docs/fhir.md)
    path("decommissioning/", include("lifecycle.decommissioning.urls")),
    path("map/", include("locations.floormap.urls")),
]
