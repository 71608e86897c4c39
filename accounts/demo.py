"""Two-factor sign-in for the demo hospital (``manage.py seed_demo``).

The demo users who need a second factor (biomed, security, admin) get a TOTP device with a published demo
secret, like their published passwords: add the printed otpauth:// URI to any authenticator app, or run
``manage.py demo_totp USERNAME`` for the current code. seed_demo refuses to run with DEBUG off.
"""

from __future__ import annotations

import hashlib
import time

from django.contrib.auth import get_user_model
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from assets.demo import DEMO_USERS

DEMO_DEVICE_NAME = "demo authenticator"


def demo_totp_key(username: str) -> str:
    """The published demo secret of a user: 20 bytes, hex (django-otp's format)."""
    return hashlib.sha256(f"hospital-assets-demo-totp:{username}".encode()).hexdigest()[:40]


def demo_totp_ensure() -> list[TOTPDevice]:
    """A demo TOTP device for each demo user whose role needs a second factor (left alone if present)."""

    devices = []
    for spec in DEMO_USERS:
        user = get_user_model().objects.filter(username=spec.username).first()
        if user is None or not services.otp_required(user):
            continue
        device = TOTPDevice.objects.filter(user=user, name=DEMO_DEVICE_NAME).first()
        if device is None:
            device = TOTPDevice.objects.create(
                user=user, name=DEMO_DEVICE_NAME, key=demo_totp_key(spec.username), confirmed=True
            )
        devices.append(device)
    return devices


def current_code(device: TOTPDevice) -> tuple[str, int]:
    """(the code the device accepts now, seconds it stays current)."""

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    now = time.time()
    totp.time = now
    remaining = device.step - int(now - device.t0) % device.step
    return f"{totp.token():0{device.digits}d}", remaining
