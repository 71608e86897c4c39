"""Two behaviours the admin pages that save through a service share (docs/admin.md).

- ``ServiceSaveAdmin``: ``save_model`` calls a service (locks, rules, change history), which may refuse
  (``LifecycleError``): the form comes back with the refusal as its error, the input kept, and nothing of the
  attempt stays: no "added/changed successfully" message, no admin log row, no half-written change (the
  admin's own transaction around the save is rolled back).
- ``NulSafeChangelist``: a list's filters come from the query string, and PostgreSQL text cannot hold a NUL
  character: a filter value with one is answered 400 naming the parameter, not a server error.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest

from lifecycle.exceptions import LifecycleError


class _Refused(Exception):
    """Raised out of the admin's transaction (so it is rolled back) to show the form again with ``message``."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class ServiceSaveAdmin:
    """Mix into a ModelAdmin whose ``save_model`` calls a service and lets its ``LifecycleError`` through.

    The refusal is raised inside ``changeform_view``'s ``transaction.atomic``, which rolls the attempt back
    before the admin logs or announces anything; the view then runs again on the same POST, and the form, told
    the refusal, fails validation with it, so it is shown as the form's error with what the user typed."""

    _REFUSAL = "_service_refusal"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused as refused:
            if request.method != "POST":
                raise
            setattr(request, self._REFUSAL, refused.message)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        try:
            self.save_through_service(request, obj, form, change)
        except LifecycleError as exc:
            raise _Refused(exc.message) from exc

    def save_through_service(self, request, obj, form, change):
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        refusal = getattr(request, self._REFUSAL, None)
        if refusal is None:
            return form

        class RefusedForm(form):
            def clean(self):
                super().clean()
                raise ValidationError(refusal)

        RefusedForm.__name__ = form.__name__
        return RefusedForm


def nul_parameter(query) -> str | None:
    """The first parameter of a QueryDict whose name or a value holds a NUL character, or None."""
    for name, values in query.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "\\x00")
    return None


class NulSafeChangelist:
    """Mix into a ModelAdmin: a list asked with a NUL in a parameter answers 400."""

    def changelist_view(self, request, extra_context=None):
        name = nul_parameter(request.GET)
        if name is not None:
            return HttpResponseBadRequest(
                f"bad filter: {name} contains a NUL character", content_type="text/plain; charset=utf-8"
            )
        return super().changelist_view(request, extra_context)
