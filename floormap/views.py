"""The floor map's page and its own sign-in (``/map/``). The page's JSON calls are DRF views under
``/api/v1/map/`` (floormap/api.py); the page finds their URLs in its config.

The page is for Nurse, Dispatch, Clinical engineering and superusers (the policy table's ``map.view``);
others get 403 with an explanation.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET

from config.access import check
from declarations.policy import Action
from floormap import access, payloads, selectors
from floormap.api import session_payload

# How often a page without a live connection (or with a process-local channel layer) asks for changes.
DEFAULT_POLL_SECONDS = 5


def _poll_seconds() -> float:
    return float(getattr(settings, "MAP_POLL_SECONDS", DEFAULT_POLL_SECONDS))


class MapLoginView(auth_views.LoginView):
    """Nurses are not staff, so they cannot use the admin's login: the map has its own."""

    template_name = "map/login.html"
    redirect_authenticated_user = True
    next_page = reverse_lazy("floormap:map")


class MapLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("floormap:login")


@login_required(login_url=reverse_lazy("floormap:login"))
@require_GET
def map_page(request):
    if not check(request.user, Action.MAP_VIEW, door="map", path=request.path):
        return render(request, "map/forbidden.html", status=403)
    config = payloads.map_config(
        user=request.user,
        floors=selectors.floors_for_map(),
        actions_by_state=access.map_actions_by_state(request.user),
        can_request=access.user_may_request_delivery(request.user),
        poll_seconds=_poll_seconds(),
    )
    config["csrf_token"] = get_token(request)  # every POST to /api/v1/map/ sends it (SessionAuthentication)
    config["session"] = session_payload(request)
    return render(request, "map/map.html", {"config": config})
