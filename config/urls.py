from django.contrib import admin
from django.urls import include, path

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/biomed/reports/", include("lifecycle.biomed.urls")),  # before admin/: its catch-all
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),  # every app's API, the schema and Swagger UI
    path("fhir/r4/", include("fhir.urls")),  # FHIR R4 read and search (docs/fhir.md)
    path("decommissioning/", include("lifecycle.decommissioning.urls")),
    path("map/", include("floormap.urls")),
]
