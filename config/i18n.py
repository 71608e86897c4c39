"""Text for machines and records: labels in the source language, whatever the reader's language.

State labels, transition names and choice labels are translated (docs/translating.md): read during a request,
they are in that request's language. Webhook and live-event payloads, FHIR codings and stored records must
not change with it: they take ``source_text(label)`` or ``source_state(state)``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation

from declarations.states import StateDefinition, state_definition


def source_text(text) -> str:
    """``text`` (a lazy translation or a str) as a plain str in ``settings.LANGUAGE_CODE``."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(text)


def source_language():
    """A context manager: what is written inside it (gettext, lazy labels) comes out in ``settings.LANGUAGE_CODE``.

    For text that is stored (a transition's note) rather than shown to the reader of this request."""
    return translation.override(settings.LANGUAGE_CODE)


def source_state(state: str) -> StateDefinition:
    """The state's declaration with its label and definition in ``settings.LANGUAGE_CODE``."""
    with translation.override(settings.LANGUAGE_CODE):
        return state_definition(state)
