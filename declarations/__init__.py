"""Declarations: the bottom layer (docs/architecture.md). Pure modules that import no model and no app.

States, transitions, guards (by name), roles, the policy table, room types, location status, tag ids and
choices. Everything above reads them; they read nothing above.
"""
