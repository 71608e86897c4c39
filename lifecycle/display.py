"""How a state looks on screen: the badge the admin (and any server-rendered page) shows.

Colour, icon and label together, with the definition as the tooltip, so the meaning is never
carried by colour alone.
"""

from django.utils.html import format_html

from declarations.states import state_definition


def state_badge(state: str):
    d = state_definition(state)
    return format_html(
        '<span class="state-badge state-{}" title="{}" style="background:{};color:#fff;padding:1px 7px;'
        'border-radius:9px;white-space:nowrap;font-weight:600">'
        '<span aria-hidden="true">{}</span> {}</span>',
        d.value,
        d.definition,
        d.colour,
        d.icon,
        d.label,
    )
