"""`make demo` still signs in: seed_demo gives biomed, security and admin an authenticator; demo_totp prints
the code."""

import pytest
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_demo_admin_signs_in_with_the_printed_code(client, capsys, settings):
    settings.DEBUG = True
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "otpauth://totp/" in out and "demo_totp" in out
    call_command("demo_totp", "biomed")
    code = capsys.readouterr().out.strip()
    assert len(code) == 6 and code.isdigit()
    signed_in = client.post(
        reverse("admin:login"), {"username": "biomed", "password": "biomed-demo-2026", "otp_code": code}
    )
    assert signed_in.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    # The nurse needs no second factor (the map, and no admin role).
    call_command("demo_totp", "admin")
    assert capsys.readouterr().out.strip().isdigit()
    with pytest.raises(Exception, match="no authenticator"):
        call_command("demo_totp", "nurse")


def test_demo_totp_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(Exception, match="DEBUG is off"):
        call_command("demo_totp", "biomed")
