"""Sign-in helpers for the tests: TOTP codes as an authenticator app would show them."""

import time

from django_otp.oath import TOTP

from accounts.services import totp_enroll

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def code_for(device, *, steps_ahead: int = 0) -> str:
    """The code the user's app shows now (or ``steps_ahead`` 30-second steps later: each code works once,
    and the device accepts the next step's code too)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():06d}"


def enrolled(user):
    return totp_enroll(user)
