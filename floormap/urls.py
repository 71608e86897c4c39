"""/map/: the page and its sign-in. Its JSON calls are under /api/v1/map/ (floormap/api_urls.py)."""

from django.urls import path

from floormap import views

app_name = "floormap"

urlpatterns = [
    path("", views.map_page, name="map"),
    path("login/", views.MapLoginView.as_view(), name="login"),
    path("logout/", views.MapLogoutView.as_view(), name="logout"),
]
