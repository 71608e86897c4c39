"""django-axes' lockout check, for the doors that have a request (every web sign-in does).

``authenticate()`` without a request (a management command, the shell, a test) has no address to lock and is
not a door an attacker reaches: django-axes would raise there; this backend lets the next backend answer.
"""

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
