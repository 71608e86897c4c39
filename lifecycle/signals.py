"""What the lifecycle core announces to the lifecycle apps built on it, inside the caller's transaction.

The core (lifecycle/services.py) runs transitions and work orders; the apps above it (decommissioning,
biomed) use the core, so the core cannot import them. Instead it sends these signals with ``send`` (not
``send_robust``): a receiver's error rolls the whole change back. The receivers are connected in the apps'
``AppConfig.ready()``.
"""

from django.dispatch import Signal

# Sent by services.asset_transition after the transition is logged: asset (locked row), transition, user.
# Decommissioning issues the certificate on "decommission".
transition_applied = Signal()

# Sent by services.work_order_update when a work order closes done: work_order, user, completed_on.
# Biomed counts a maintenance work order opened by hand as a pass of the asset's schedules of its kind.
work_order_done = Signal()
