"""{% admin_dashboard as sections %}: the dashboard on the admin index (lifecycle/dashboard.py)."""

from django import template

from lifecycle.dashboard import dashboard_sections

register = template.Library()


@register.simple_tag(takes_context=True)
def admin_dashboard(context):
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []
    return dashboard_sections(user=request.user)
