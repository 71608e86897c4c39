"""/api/v1/map/...: the floor map's JSON calls (floormap/api.py), included by config/api_urls.py."""

from django.urls import path

from accounts.sessions import passive
from floormap import api

urlpatterns = [
    path("map/floors/<int:floor_id>/", api.FloorView.as_view(), name="map-floor"),
    # Polling and asking how long the session has left are not a person's activity (accounts/sessions.py).
    path("map/floors/<int:floor_id>/assets/", passive(api.FloorAssetsView.as_view()), name="map-floor-assets"),
    path("map/search/", api.SearchView.as_view(), name="map-search"),
    path("map/places/", api.PlacesView.as_view(), name="map-places"),
    path("map/assets/<int:asset_id>/action/", api.AssetActionView.as_view(), name="map-asset-action"),
    path("map/requests/", api.RequestDeliveryView.as_view(), name="map-requests"),
    path("map/session/", passive(api.SessionView.as_view()), name="map-session"),
]
