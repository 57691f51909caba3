"""Meetings booked from outside: each user's public booking page and the signed webhook of external schedulers
(docs/meetings.md). Selectors and services only; the views in `booking_views.py` parse and render.

- **Free slots** (`booking_slots`): the page's working hours cut into slots of `duration_minutes`, on its ISO
  weekdays, as local wall-clock times of its time zone converted to UTC — so a day with a DST change still offers
  09:00…17:00 local — from MIN_NOTICE after now, for `days_ahead` local days starting today, minus every slot that
  overlaps a meeting of the host.
- **Booking a slot** (`booking_create`): re-checks the slot inside one transaction that first locks the host's
  user row, so two visitors racing for one slot get one meeting and one clear refusal (PostgreSQL:
  `SELECT … FOR UPDATE`; SQLite: the project's transactions are IMMEDIATE, so writers already queue). The contact
  is found by email or created, and `services.meeting_record` records the meeting and ends the contact's running
  enrollments as meeting booked — that rule lives there, not here.
- **The webhook** (`webhook_*`): an HMAC-SHA256 signature of the raw body under a per-account secret derived from
  SECRET_KEY; idempotent by the scheduler's `external_id`.

Everything that touches tenant rows runs inside the page's (or the webhook account's) scope; the only lookups
with scopes disabled are of the booking page by its public slug, and of whether a slug is taken (slugs are
unique across accounts, because the URL names no account).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django_scopes import scopes_disabled

from touchline.core.models import Account, Membership
from touchline.core.ratelimit import rate_limit_allows
from touchline.crm.models import Contact, normalise_email
from touchline.crm.selectors import contact_by_email
from touchline.crm.services import contact_create
from touchline.sequences import services
from touchline.sequences.models import BookingPage, Inbox, Meeting, MeetingSource

# Nobody can prepare for a meeting booked five minutes ahead; slots closer than this are not offered.
MIN_NOTICE = timedelta(hours=2)
# The page model allows any number of days; the slot list (and the work to build it) stays bounded.
MAX_DAYS_AHEAD = 90
# Booking attempts (valid or not) per client IP per hour: a person books once or twice; a script filling a
# host's calendar or probing for contacts is cut off.
BOOKINGS_PER_IP = 10
BOOKING_RATE_WINDOW = 3600
# The booking form has four short fields; 16 KB is far above any honest request.
BOOKING_MAX_BODY = 16 * 1024
# A scheduler's event is a few hundred bytes.
WEBHOOK_MAX_BODY = 64 * 1024
# Webhook requests per client IP per minute: schedulers send one per booking; a flood of forged requests is cut off
# before any signature work.
WEBHOOK_REQUESTS_PER_IP = 120
WEBHOOK_RATE_WINDOW = 60
WEBHOOK_EVENT = "meeting.booked"
SIGNATURE_HEADER = "X-Touchline-Signature"
SLUG_MAX_LENGTH = 70  # leaves room for a "-NN" suffix within the model's 80


# Slots ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC

    @property
    def value(self) -> str:
        """The slot's start as the booking form sends it back: ISO 8601 in UTC."""
        return self.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The IANA zone `name`, or None when it is not one (checked against the list, so no path is ever opened
    from user input)."""
    name = (name or "").strip()
    if not name or len(name) > 64 or name not in _zone_names():
        return None
    return ZoneInfo(name)


def page_zone(page: BookingPage) -> ZoneInfo:
    return zone_or_none(page.time_zone) or ZoneInfo("UTC")


def offered_weekdays(weekdays: str) -> frozenset[int]:
    return frozenset(int(c) for c in weekdays if c in "1234567")


def _day_slots(day: date, start: time, end: time, duration: timedelta, zone: ZoneInfo) -> list[Slot]:
    """Slots of one local day. Wall-clock times that do not exist (the hour skipped when clocks go forward) are
    left out; in the hour that repeats when clocks go back, each wall-clock time is offered once (its first)."""
    slots = []
    local, last = datetime.combine(day, start), datetime.combine(day, end)
    while local + duration <= last:
        starts_at = local.replace(tzinfo=zone).astimezone(UTC)
        if starts_at.astimezone(zone).replace(tzinfo=None) == local:
            slots.append(Slot(starts_at, starts_at + duration))
        local += duration
    return slots


def offered_slots(page: BookingPage, now: datetime) -> list[Slot]:
    """The page's slots from MIN_NOTICE after `now` through its horizon, before removing busy times."""
    duration = timedelta(minutes=page.duration_minutes)
    if duration <= timedelta(0) or page.day_end <= page.day_start:
        return []
    zone, weekdays, earliest = page_zone(page), offered_weekdays(page.weekdays), now + MIN_NOTICE
    today = now.astimezone(zone).date()
    slots: list[Slot] = []
    for offset in range(min(page.days_ahead, MAX_DAYS_AHEAD)):
        day = today + timedelta(days=offset)
        if day.isoweekday() in weekdays:
            slots += [s for s in _day_slots(day, page.day_start, page.day_end, duration, zone)
                      if s.starts_at >= earliest]
    return slots


def _busy(page: BookingPage, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The host's meetings overlapping [start, end), merged into disjoint intervals sorted by start."""
    merged: list[tuple[datetime, datetime]] = []
    rows = (Meeting.objects.filter(account_id=page.account_id, host_id=page.user_id, starts_at__lt=end,
                                   ends_at__gt=start).order_by("starts_at").values_list("starts_at", "ends_at"))
    for starts_at, ends_at in rows:
        if merged and starts_at <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], ends_at))
        else:
            merged.append((starts_at, ends_at))
    return merged


def _is_free(slot: Slot, busy: list[tuple[datetime, datetime]], starts: list[datetime]) -> bool:
    # Only the last interval starting at or before the slot and the first one after it can overlap it.
    i = bisect.bisect_right(starts, slot.starts_at) - 1
    if i >= 0 and busy[i][1] > slot.starts_at:
        return False
    return not (i + 1 < len(busy) and busy[i + 1][0] < slot.ends_at)


def booking_slots(page: BookingPage, now: datetime) -> list[Slot]:
    """Free slots of the page at `now`, in time order: `offered_slots` minus those overlapping a meeting of
    the host (a meeting that ends exactly when a slot starts does not overlap it). One query. Call inside the
    page's account scope."""
    slots = offered_slots(page, now)
    if not slots:
        return []
    busy = _busy(page, slots[0].starts_at, slots[-1].ends_at)
    starts = [b[0] for b in busy]
    return [s for s in slots if _is_free(s, busy, starts)]


@dataclass(frozen=True)
class ShownSlot:
    value: str  # what the form posts back (ISO UTC)
    label: str  # local time in the zone shown, e.g. "09:30"


@dataclass(frozen=True)
class BookingDay:
    day: date
    slots: list[ShownSlot]


def booking_days(slots: list[Slot], zone: ZoneInfo) -> list[BookingDay]:
    """`slots` grouped by their local date in `zone` (the host's or the one the visitor chose)."""
    days: dict[date, list[ShownSlot]] = {}
    for slot in slots:
        local = slot.starts_at.astimezone(zone)
        days.setdefault(local.date(), []).append(ShownSlot(slot.value, local.strftime("%H:%M")))
    return [BookingDay(day, shown) for day, shown in days.items()]


def slot_start_parse(value: str) -> datetime | None:
    """A slot start as posted (ISO 8601 with an offset or Z), in UTC; None when it is not one."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


# Pages ----------------------------------------------------------------------------------------------------------


def booking_page_by_slug(slug: str) -> BookingPage | None:
    """The page a public URL names. Scopes are disabled only for this lookup; callers continue inside
    `scope(account=page.account)`."""
    with scopes_disabled():
        return BookingPage.all_accounts.select_related("account", "user").filter(slug=slug).first()


def _slug_taken(slug: str) -> bool:
    with scopes_disabled():  # unique across all accounts: the URL names no account
        return BookingPage.all_accounts.filter(slug=slug).exists()


def _slug_base(user) -> str:
    name = user.get_full_name() or user.username or user.email.partition("@")[0]
    return slugify(name)[:SLUG_MAX_LENGTH].strip("-") or "meet"


def booking_page_for(user, account: Account) -> BookingPage:
    """The user's booking page in `account`, created on first use: slug from the user's name (`ada-lovelace`,
    then `ada-lovelace-2`, … when taken), the time zone of the user's first inbox in the account or else the
    account's, the model's defaults for the rest. Call inside the account's scope."""
    page = BookingPage.objects.filter(account=account, user=user).order_by("pk").first()
    if page is not None:
        return page
    if not Membership.objects.filter(account=account, user=user).exists():
        raise ValidationError({"user": "The user is not a member of this account."})
    inbox_zone = Inbox.objects.filter(account=account, user=user).order_by("pk").values_list("time_zone", flat=True)
    time_zone = next((z for z in inbox_zone[:1] if zone_or_none(z)), None) or account.time_zone
    base = _slug_base(user)
    for n in range(1, 1000):
        slug = base if n == 1 else f"{base}-{n}"
        if _slug_taken(slug):
            continue
        try:
            with transaction.atomic():
                return BookingPage.objects.create(account=account, user=user, slug=slug, time_zone=time_zone,
                                                  title=f"Meet {user.get_full_name() or user.username}"[:200])
        except IntegrityError:  # taken by a concurrent request between the check and the insert
            continue
    raise ValidationError({"slug": "No free booking link could be made from this name."})


# Booking a slot -------------------------------------------------------------------------------------------------


class SlotUnavailable(ValidationError):
    """The slot cannot be booked. `taken`: it was offered but someone booked it first (or the host is now busy);
    otherwise it is not a slot of this page at all (outside hours, too soon, past the horizon, misaligned)."""

    def __init__(self, message: str, *, taken: bool):
        super().__init__({"starts_at": message})
        self.taken, self.message_text = taken, message


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = " ".join(name.split()).partition(" ")
    return first[:100], last[:100]


def _contact_find_or_create(*, account: Account, email: str, name: str) -> Contact:
    """The account's contact with this email, or a new one (lead, default original source). A contact that
    exists keeps its name and lifecycle stage: a visitor's typing never overwrites CRM data."""
    email = normalise_email(email)
    contact = contact_by_email(account, email)
    if contact is not None:
        return contact
    first_name, last_name = _split_name(name)
    try:
        with transaction.atomic():
            return contact_create(account=account, email=email, first_name=first_name, last_name=last_name)
    except (IntegrityError, ValidationError):
        # Created by a concurrent booking or webhook between the lookup and the insert; anything else (an
        # invalid address) is the caller's error.
        contact = contact_by_email(account, email)
        if contact is None:
            raise
        return contact


def booking_create(*, page: BookingPage, starts_at: datetime, email: str, name: str,
                   now: datetime) -> Meeting:
    """Book the slot starting at `starts_at` on `page` for the visitor (`email`, `name`). Raises SlotUnavailable
    when the slot is not the page's or is no longer free, ValidationError for a bad email; writes nothing then.
    The re-check and the insert run in one transaction holding a lock on the host's row, so of two concurrent
    bookings of one slot exactly one succeeds."""
    with transaction.atomic():
        # Serialises bookings with this host (PostgreSQL row lock; on SQLite the IMMEDIATE transaction already
        # holds the database's write lock). The slots are computed only after it is held.
        list(get_user_model().objects.select_for_update().filter(pk=page.user_id).values_list("pk", flat=True))
        offered = {s.starts_at: s for s in offered_slots(page, now)}
        slot = offered.get(starts_at)
        if slot is None:
            raise SlotUnavailable("That time is not offered on this page. Please pick one of the times listed.",
                                  taken=False)
        if slot not in booking_slots(page, now):
            raise SlotUnavailable("Sorry, that time was just booked. Please pick another time.", taken=True)
        contact = _contact_find_or_create(account=page.account, email=email, name=name)
        meeting, _ = services.meeting_record(contact=contact, starts_at=slot.starts_at, ends_at=slot.ends_at,
                                             source=MeetingSource.BOOKING_PAGE, host=page.user, title=page.title,
                                             at=now)
    return meeting


def booking_attempt_allowed(ip: str | None) -> bool:
    return rate_limit_allows(f"booking:attempts:{ip or 'unknown'}", limit=BOOKINGS_PER_IP,
                             window=BOOKING_RATE_WINDOW)


def webhook_request_allowed(ip: str | None) -> bool:
    return rate_limit_allows(f"booking:webhook:{ip or 'unknown'}", limit=WEBHOOK_REQUESTS_PER_IP,
                             window=WEBHOOK_RATE_WINDOW)


# The scheduler webhook ------------------------------------------------------------------------------------------


def _account_id(account: Account | int) -> int:
    return account if isinstance(account, int) else account.pk


def webhook_secret(account: Account | int) -> str:
    """The account's webhook secret: HMAC-SHA256 of "meetings-webhook:<id>" under SECRET_KEY. Derived, not
    stored, so there is nothing to leak from the database; rotating SECRET_KEY rotates every secret."""
    message = f"meetings-webhook:{_account_id(account)}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(account: Account | int, body: bytes) -> str:
    """The `X-Touchline-Signature` value for `body`: `sha256=<hex HMAC-SHA256 of the raw body>`."""
    digest = hmac.new(webhook_secret(account).encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_signature_valid(account: Account | int, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(webhook_signature(account, body).encode(), header.strip().encode())


def webhook_account(account_id: int) -> Account | None:
    return Account.objects.filter(pk=account_id).first()  # accounts are not tenant rows: no scope needed


class WebhookInvalid(Exception):
    """The body is not a usable event; `fields` maps each bad field to what is wrong with it."""

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message, self.fields = message, fields or {}


@dataclass(frozen=True)
class WebhookBooking:
    event: str
    external_id: str
    email: str
    name: str
    host_email: str
    starts_at: datetime
    ends_at: datetime
    title: str


REQUIRED_FIELDS = ("event", "external_id", "email", "starts_at", "ends_at")
# Field -> longest accepted value (the columns they end up in).
FIELD_LENGTHS = {"event": 50, "external_id": 200, "email": 254, "name": 200, "host_email": 254, "title": 200,
                 "starts_at": 40, "ends_at": 40}


def webhook_payload_parse(body: bytes) -> WebhookBooking:
    """The event in a webhook body, or WebhookInvalid naming every bad field at once."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WebhookInvalid(f"The body is not JSON: {error}.") from None
    if not isinstance(data, dict):
        raise WebhookInvalid("The body must be a JSON object.")
    fields: dict[str, str] = {}
    values: dict[str, str] = {}
    for name, longest in FIELD_LENGTHS.items():
        value = data.get(name)
        if value is None or value == "":
            if name in REQUIRED_FIELDS:
                fields[name] = "This field is required."
            values[name] = ""
        elif not isinstance(value, str):
            fields[name] = "Must be a string."
        elif len(value) > longest:
            fields[name] = f"At most {longest} characters."
        else:
            values[name] = value.strip()
    for name in ("email", "host_email"):
        if values.get(name):
            try:
                validate_email(values[name])
            except ValidationError:
                fields[name] = "Not a valid email address."
    times = {}
    for name in ("starts_at", "ends_at"):
        if values.get(name):
            times[name] = slot_start_parse(values[name])
            if times[name] is None:
                fields[name] = "An ISO 8601 time with an offset, e.g. 2026-03-23T09:00:00Z."
    if times.get("starts_at") and times.get("ends_at") and times["ends_at"] <= times["starts_at"]:
        fields["ends_at"] = "Must be after starts_at."
    if fields:
        raise WebhookInvalid("The event is not valid: " + "; ".join(f"{k}: {v}" for k, v in fields.items()), fields)
    return WebhookBooking(event=values["event"], external_id=values["external_id"], email=values["email"],
                          name=values["name"], host_email=values["host_email"], starts_at=times["starts_at"],
                          ends_at=times["ends_at"], title=values["title"])


def _member_by_email(account: Account, email: str):
    if not email:
        return None
    return (get_user_model().objects.filter(memberships__account=account, email__iexact=email)
            .order_by("pk").first())


def webhook_meeting_record(*, account: Account, booking: WebhookBooking) -> tuple[Meeting, bool]:
    """Record a scheduler's booking in `account` (call inside its scope): the contact found by email or created,
    the host the member with `host_email` (None when no member has it), and the meeting through
    `services.meeting_record`. Idempotent by `external_id`: a replay returns the first meeting, writes nothing
    and updates nothing. Returns the meeting and whether it is new."""
    existing = Meeting.objects.filter(account=account, external_id=booking.external_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            contact = _contact_find_or_create(account=account, email=booking.email, name=booking.name)
            return services.meeting_record(
                contact=contact, starts_at=booking.starts_at, ends_at=booking.ends_at,
                source=MeetingSource.WEBHOOK, host=_member_by_email(account, booking.host_email),
                title=booking.title, external_id=booking.external_id)
    except IntegrityError:  # the same event delivered twice at once: the other delivery recorded it
        existing = Meeting.objects.filter(account=account, external_id=booking.external_id).first()
        if existing is None:
            raise
        return existing, False
