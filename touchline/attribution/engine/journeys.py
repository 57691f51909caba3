"""Journeys: the touches that belong to one conversion, in time order, and their key positions.

A *touch* is one credit-earning interaction (SPEC §3). The journey of a conversion is every touch at or before
the conversion time (a touch at exactly that time counts as before it), ordered by time and, for touches at the
same instant, by key, so that every run over the same data picks the same first and last touch.

Key positions, each "the last touch at or before" an event (SPEC §3):

    F  first touch of the journey
    L  last touch at or before the lead was created (for a deal: its earliest-created contact)
    D  last touch at or before the deal was created
    C  last touch at or before the deal closed won

A position exists only if its event time is given and some touch of the journey lies at or before it.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


@dataclass(frozen=True)
class Touch:
    """One interaction of a journey.

    `key` is the caller's id of the interaction (unique within a journey; keys of one journey must be mutually
    orderable, e.g. all ints, because they break ties between touches at the same instant). `at` is aware.
    `channel` is the interaction's traffic source id (`organic_search`, …); only the data-driven model reads it.
    """

    key: Hashable
    at: datetime
    channel: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.at, "Touch.at")


class Conversion(StrEnum):
    """The three conversion kinds credited by attribution (stable identifiers of SPEC §3)."""

    CONTACT_CREATE = "contact_create"
    DEAL_CREATE = "deal_create"
    REVENUE = "revenue"


@dataclass(frozen=True)
class Positions:
    """Times of the events that define the key positions L, D and C; None when the event has not happened.

    For a deal, `lead_created_at` is the creation time of its earliest-created contact (SPEC §3).
    """

    lead_created_at: datetime | None = None
    deal_created_at: datetime | None = None
    closed_won_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("lead_created_at", "deal_created_at", "closed_won_at"):
            value = getattr(self, name)
            if value is not None:
                _require_aware(value, f"Positions.{name}")


@dataclass(frozen=True)
class KeyPositions:
    """Keys of the touches at the key positions of one journey; None where a position does not exist.

    `last` is the last touch of the journey (the one the last-interaction, J-shaped and inverse-J models use).
    `last_key` is the latest of the existing positions F, L, D, C: where money's rounding remainder goes (SPEC
    rule 4). For revenue, whose conversion time is the close, it is C, the last touch of the journey.
    """

    first: Hashable | None
    lead: Hashable | None
    deal: Hashable | None
    closed_won: Hashable | None
    last: Hashable | None
    last_key: Hashable | None


def journey(touches: Iterable[Touch], *, converted_at: datetime) -> list[Touch]:
    """The touches at or before `converted_at`, sorted by (at, key).

    Raises ValueError when two touches share a key or `converted_at` is naive.
    """
    _require_aware(converted_at, "converted_at")
    touches = list(touches)
    keys = [touch.key for touch in touches]
    if len(set(keys)) != len(keys):
        raise ValueError("touch keys must be unique within a journey")
    return sorted((t for t in touches if t.at <= converted_at), key=lambda t: (t.at, t.key))


def position_indexes(ordered: Sequence[Touch], positions: Positions) -> dict[str, int | None]:
    """Indexes into an already ordered journey of F ("first"), L ("lead"), D ("deal"), C ("closed_won") and the
    last touch ("last"); None where the position does not exist."""
    if not ordered:
        return dict.fromkeys(("first", "lead", "deal", "closed_won", "last"))
    times = [touch.at for touch in ordered]

    def last_at_or_before(moment: datetime | None) -> int | None:
        if moment is None:
            return None
        index = bisect.bisect_right(times, moment) - 1
        return index if index >= 0 else None

    return {
        "first": 0,
        "lead": last_at_or_before(positions.lead_created_at),
        "deal": last_at_or_before(positions.deal_created_at),
        "closed_won": last_at_or_before(positions.closed_won_at),
        "last": len(ordered) - 1,
    }


def key_positions(touches: Iterable[Touch], *, converted_at: datetime, positions: Positions) -> KeyPositions:
    """The keys of the touches at F, L, D, C and the last touch of the journey of a conversion at `converted_at`."""
    ordered = journey(touches, converted_at=converted_at)
    indexes = position_indexes(ordered, positions)
    keys = {role: None if i is None else ordered[i].key for role, i in indexes.items()}
    key_indexes = [i for role, i in indexes.items() if role != "last" and i is not None]
    return KeyPositions(**keys, last_key=ordered[max(key_indexes)].key if key_indexes else None)
