"""Declarations: pure modules that import no models and no Django ORM (issue 14's bottom layer).

Everything above reads them; they read nothing above. ``declarations.policy`` is the role x action table.
"""
