"""Server-side SVG charts for the utilisation page.

Why SVG drawn on the server rather than a JavaScript library: the page must work on an offline intranet
without vendoring and updating a charting library, print cleanly (the accreditation binder), and be
readable without colour: every bar carries its value as text and a <title>, the state colours are the
shared ones (declarations/states.py), and the figures are also in a table and the CSV under each chart.
"""

from __future__ import annotations

from django.utils.html import escape

from declarations.states import STATE_DEFINITIONS

WIDTH, LABEL_W, BAR_H, GAP = 760, 220, 18, 6


def _svg(height: int, body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def stacked_state_bars(rows: list[tuple[str, dict[str, float]]], *, title: str) -> str:
    """One horizontal bar per row, split by state share (0..1), in lifecycle order, with a legend."""
    plot_w = WIDTH - LABEL_W - 10
    parts, y = [], 0
    for label, shares in rows:
        parts.append(f'<text x="0" y="{y + 13}">{escape(label[:34])}</text>')
        x = LABEL_W
        for state, definition in STATE_DEFINITIONS.items():
            share = shares.get(state, 0.0)
            if share <= 0:
                continue
            w = share * plot_w
            tip = f"{label}: {definition.label} {share:.1%}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" fill="{definition.colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            if w > 34:
                parts.append(f'<text x="{x + 3:.1f}" y="{y + 13}" fill="#fff">{definition.icon} {share:.0%}</text>')
            x += w
        y += BAR_H + GAP
    legend_x = 0
    for definition in STATE_DEFINITIONS.values():
        parts.append(
            f'<rect x="{legend_x}" y="{y + 4}" width="10" height="10" fill="{definition.colour}"/>'
            f'<text x="{legend_x + 14}" y="{y + 13}">{definition.icon} {escape(definition.label)}</text>'
        )
        legend_x += 105
    return _svg(y + 22, "".join(parts), title)


def value_bars(rows: list[tuple[str, float]], *, title: str, unit: str, colour: str = "#0550ae") -> str:
    """One horizontal bar per row, scaled to the largest value, with the value written after the bar."""
    plot_w = WIDTH - LABEL_W - 90
    top = max((v for _, v in rows), default=0) or 1
    parts, y = [], 0
    for label, value in rows:
        w = value / top * plot_w
        parts.append(
            f'<text x="0" y="{y + 13}">{escape(label[:34])}</text>'
            f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{BAR_H}" fill="{colour}">'
            f"<title>{escape(f'{label}: {value:.1f} {unit}')}</title></rect>"
            f'<text x="{LABEL_W + w + 4:.1f}" y="{y + 13}">{value:.1f} {escape(unit)}</text>'
        )
        y += BAR_H + GAP
    return _svg(max(y, BAR_H), "".join(parts), title)
