"""Text for machines and records: labels in the source language, whatever the reader's language.

State labels, transition names and choice labels are lazy translations (docs/translating.md): they take the
language of the request that reads them. Webhook and live-event payloads, FHIR codings and stored records
must not change with that language; they take ``source_text(label)``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation


def source_text(text) -> str:
    """``text`` (a lazy translation or a str) as a plain str in ``settings.LANGUAGE_CODE``."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(text)
