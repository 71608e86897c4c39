"""Pure unit tests of the location engine (no database)."""
