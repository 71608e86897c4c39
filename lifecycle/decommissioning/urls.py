from django.urls import path

from lifecycle.decommissioning import views

app_name = "decommissioning"

urlpatterns = [
    path("certificates/<uuid:pk>/", views.certificate_detail, name="certificate-detail"),
    path("certificates/<uuid:pk>/certificate.json", views.certificate_json, name="certificate-json"),
]
