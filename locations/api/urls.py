from django.urls import path

from locations.api import views

app_name = "locations-api"

urlpatterns = [
    path("rtls/sightings", views.SightingsView.as_view(), name="rtls-sightings"),
    path("rtls/sightings/", views.SightingsView.as_view()),
]
