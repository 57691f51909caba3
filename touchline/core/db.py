"""Database-specific code lives here and nowhere else (STYLE rule 13)."""

from __future__ import annotations

from django.db import connection


def is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"

