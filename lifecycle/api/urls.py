from django.urls import path

from lifecycle.api import views

app_name = "lifecycle-api"

urlpatterns = [
    path("states/", views.StateListView.as_view(), name="state-list"),
]
