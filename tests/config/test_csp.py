"""Content-Security-Policy (django-csp): no inline script anywhere; the map, the admin and Swagger UI still
work under it (tests/map/test_browser.py::test_swagger_ui_and_the_admin_render_under_the_csp, `-m browser`)."""

from __future__ import annotations

import re

import pytest
from django.test import Client


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/map/login/", "/api/v1/docs/", "/"])
def test_pages_carry_a_policy_without_inline_scripts(path):
    response = Client().get(path, follow=True)
    assert response.status_code == 200
    directives = policy(response)
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    html = response.content.decode()
    inline = [m for m in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>", html) if "application/json" not in m.group(0)]
    assert not inline, f"inline <script> on {path}: the policy would block it"
    assert not re.search(r"\son[a-z]+\s*=", html.split("<body", 1)[-1]), f"inline event handler on {path}"


@pytest.mark.django_db
def test_swagger_ui_loads_its_start_up_script_from_the_server():
    html = Client().get("/api/v1/docs/").content.decode()
    [script] = re.findall(r'<script src="([^"]*script[^"]*)"', html)
    response = Client().get(script)
    assert response.status_code == 200 and b"SwaggerUIBundle" in response.content
