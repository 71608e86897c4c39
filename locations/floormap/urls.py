from django.urls import path

from locations.floormap import views

app_name = "floormap"

urlpatterns = [
    path("", views.map_page, name="map"),
    path("login/", views.MapLoginView.as_view(), name="login"),
    path("logout/", views.MapLogoutView.as_view(), name="logout"),
    path("api/floors/<int:floor_id>/", views.floor_data, name="floor"),
    path("api/floors/<int:floor_id>/assets/", views.floor_assets, name="floor-assets"),
    path("api/search/", views.search, name="search"),
    path("api/places/", views.places, name="places"),
    path("api/assets/<int:asset_id>/action/", views.asset_action, name="asset-action"),
    path("api/requests/", views.request_delivery, name="request-delivery"),
    path("api/session/", views.session_status, name="session"),
]
