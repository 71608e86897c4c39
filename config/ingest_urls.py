"""The URLconf of the ingest ASGI path (config/ingest_asgi.py): only the sightings routes, mounted where
config/urls.py mounts them (/api/v1/ + locations/api/urls.py), so the view, its name and its namespace are the
same, without matching the request against every route of the site first."""

from django.urls import include, path

urlpatterns = [path("api/v1/", include("locations.api.urls"))]
