from django.urls import path

from accounts import views

urlpatterns = [
    path("auth/step-up/", views.StepUpView.as_view(), name="api-step-up"),
    path("auth/token/", views.CurrentTokenView.as_view(), name="api-current-token"),
]
