from django.contrib import admin
from django.urls import path

from lifecycle.biomed import views

# Mounted under /admin/biomed/reports/ (config/urls.py), behind the admin's login (admin_view).
urlpatterns = [
    path("accreditation/", admin.site.admin_view(views.accreditation_report), name="biomed-report"),
    path("accreditation/rows/", admin.site.admin_view(views.report_rows), name="biomed-report-rows"),
    path("utilisation/", admin.site.admin_view(views.utilisation_page), name="biomed-utilisation"),
]
