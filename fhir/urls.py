"""/fhir/r4/ (config/urls.py). The CapabilityStatement (fhir/capability.py) lists exactly these routes."""

from django.urls import path, re_path

from fhir import views

app_name = "fhir"
ID = r"(?P<id>[A-Za-z0-9\-.]{1,64})"

urlpatterns = [
    path("metadata", views.MetadataView.as_view(), name="metadata"),
    path("Location", views.LocationSearchView.as_view(), name="location-search"),
    re_path(rf"^Location/{ID}$", views.LocationReadView.as_view(), name="location-read"),
    path("Device", views.DeviceSearchView.as_view(), name="device-search"),
    re_path(rf"^Device/{ID}$", views.DeviceReadView.as_view(), name="device-read"),
    re_path(rf"^SearchParameter/{ID}$", views.SearchParameterReadView.as_view(), name="searchparameter-read"),
    # Last: anything else is a 404 OperationOutcome, a newline included (Device/1%0a; see config/api_urls.py).
    re_path(r"^[\s\S]*$", views.NotFoundView.as_view()),
]
