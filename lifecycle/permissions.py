"""Who may run a transition (DESIGN.md §3), as django-fsm ``permission=`` callables.

A role is a Django group (lifecycle/roles.py). Superusers may run everything. ``user=None`` is
the system itself (room-type rules); only transitions that say so accept it.
"""

from __future__ import annotations

from lifecycle.roles import Role


def user_roles(user) -> set[Role]:
    if user is None or not user.is_authenticated:
        return set()
    names = set(user.groups.values_list("name", flat=True))
    return {role for role in Role if role.group_name in names}


class RolePermission:
    def __init__(self, *roles: Role, any_signed_in: bool = False, system: bool = False, superuser: bool = True):
        self.roles = frozenset(roles)
        self.any_signed_in = any_signed_in
        self.system = system
        # False: superuser status is not enough, the user must hold one of the roles (a personal
        # responsibility, such as retiring a device after the dual sign-off).
        self.superuser = superuser

    def __call__(self, instance, user) -> bool:
        if user is None:
            return self.system
        if not user.is_authenticated or not user.is_active:
            return False
        if (user.is_superuser and self.superuser) or self.any_signed_in:
            return True
        return bool(self.roles & user_roles(user))

    def describe(self) -> str:
        """Who, in words, for the docs and for refusal messages."""
        if self.any_signed_in:
            return "anyone signed in"
        who = [role.label for role in Role if role in self.roles]
        if self.system:
            who.append("the system (room-type rules)")
        return ", ".join(who) or "superusers only"
