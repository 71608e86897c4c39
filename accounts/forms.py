from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm

from accounts import services

OTP_WIDGET = forms.TextInput(
    attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": r"[0-9 ]*", "size": 8}
)


class AdminSignInForm(AdminAuthenticationForm):
    """The admin's sign-in: username, password, and the authenticator's one-time code where required."""

    otp_code = forms.CharField(
        label="One-time code",
        required=False,
        max_length=12,
        widget=OTP_WIDGET,
        help_text="The 6 digits your authenticator app shows (Clinical engineering, Security, administrators).",
    )

    def clean(self):
        cleaned = super().clean()  # the password (django-axes counts failures) and is_staff
        user = self.get_user()
        if user is not None:
            try:
                device = services.second_factor_check(self.request, user, cleaned.get("otp_code", ""), door="admin")
            except services.SignInError as exc:
                self.user_cache = None
                raise forms.ValidationError(exc.message, code=exc.code) from None
            user.otp_device = device  # django-otp keeps it in the session when login() runs
        return cleaned


class ReauthForm(forms.Form):
    """A fresh sign-in inside a session: the password again, and the one-time code where required."""

    password = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput(attrs={"autofocus": True}))
    otp_code = forms.CharField(label="One-time code", required=False, max_length=12, widget=OTP_WIDGET)

    def __init__(self, request, *args, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        try:
            services.reauthenticate(
                self.request, password=cleaned.get("password", ""), code=cleaned.get("otp_code", "")
            )
        except services.SignInError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None
        return cleaned
