"""Query-string filters of the /api/v1/ lists that refuse what they do not understand (docs/api.md, section 3).

django-filter reads a yes/no filter it cannot parse (``?open=maybe``, ``?pm_overdue=yes please``) as "not
given" and lists everything: a dispatcher asking for the open queue with a typo would get every request ever
made, and not know. ``StrictBooleanFilter`` takes true/false (1/0) in any case and answers anything else with
a 400 naming the filter. ``StrictFilterSet`` uses it for the model's boolean fields too, and
``StrictFilterBackend`` (the default filter backend, settings.REST_FRAMEWORK) builds the lists' automatic
FilterSets (``filterset_fields``) on it.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db import models
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend

TRUE_WORDS = ("true", "1")
FALSE_WORDS = ("false", "0")


class StrictBooleanField(forms.NullBooleanField):
    """true / false / 1 / 0 (any case); empty: not given; anything else: a validation error."""

    widget = forms.TextInput  # the raw text reaches to_python (NullBooleanSelect maps unknown words to None)

    def to_python(self, value):
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text == "":
            return None
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise forms.ValidationError(
            _("%(value)s is not a yes/no value: use true or false") % {"value": repr(str(value))}, code="invalid"
        )

    def validate(self, value):
        pass  # None (not given), True and False are all fine


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet whose boolean filters, declared or derived from the model, refuse what is not yes or no."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
    }


class StrictFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend whose automatic FilterSets (a view's ``filterset_fields``) are StrictFilterSets."""

    filterset_base = StrictFilterSet
