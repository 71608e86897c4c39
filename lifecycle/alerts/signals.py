"""Signals the alerts app sends, for listeners that must not be imported here (webhooks).

Alerts resolved one by one go through ``Alert.save`` (post_save); the automatic resolution of cleared
conditions is one bulk UPDATE, so it is announced with this signal instead, inside its transaction.
"""

from django.dispatch import Signal

# send(sender=Alert, alerts=list[Alert]) with the alerts just auto-resolved.
alerts_auto_resolved = Signal()
