"""Signal receivers, connected in LifecycleConfig.ready()."""

from __future__ import annotations

from lifecycle.services import apply_room_changes


def on_room_changes_committed(sender, changes, **kwargs):
    """The location pipeline committed room changes: run the room-type rules (docs/design.md §3)."""
    apply_room_changes(changes=changes)
