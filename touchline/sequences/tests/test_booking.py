"""Meetings from outside: free slots of a booking page (pinned to a fixed `now`, worked out by hand in
Europe/Berlin across the 2026 DST change), booking through the public page (Django's test client: the real HTTP
stack, CSRF and middleware), and the signed scheduler webhook.

Berlin is UTC+1 until Sunday 29 March 2026 01:00 UTC, UTC+2 after it. The page offers 30-minute slots from 09:00 to
17:00 local, Monday to Friday, 14 days ahead, with MIN_NOTICE = 2 hours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from touchline.core.accounts import user_create
from touchline.core.models import Role
from touchline.crm.models import Contact, LifecycleStage, TrafficSource
from touchline.crm.services import contact_create
from touchline.sequences import booking
from touchline.sequences.models import (
    BookingPage,
    EngagementEvent,
    Enrollment,
    EnrollmentStatus,
    EventKind,
    Meeting,
    MeetingSource,
)

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 3, 23, 7, 0, tzinfo=UTC)  # 08:00 in Berlin (CET, UTC+1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()  # the rate-limit counters live in the cache, shared by every test of the process
    yield
    cache.clear()


@pytest.fixture
def page(account, user) -> BookingPage:
    with scope(account=account):
        return BookingPage.objects.create(account=account, user=user, slug="ada", title="Intro call",
                                          time_zone="Europe/Berlin", duration_minutes=30, day_start=time(9, 0),
                                          day_end=time(17, 0), weekdays="12345", days_ahead=14)


def slots_at(page: BookingPage, now: datetime) -> list[booking.Slot]:
    with scope(account=page.account):
        return booking.booking_slots(page, now)


def meeting_with(page: BookingPage, starts_at: datetime, ends_at: datetime, *, host=None, email="busy@navy.test"):
    with scope(account=page.account):
        contact = Contact.objects.filter(email=email).first() or \
            contact_create(account=page.account, email=email, first_name="Busy")
        meeting, _ = booking.services.meeting_record(contact=contact, starts_at=starts_at, ends_at=ends_at,
                                                     source=MeetingSource.LOGGED, host=host or page.user)
        return meeting


def by_day(slots: list[booking.Slot]) -> dict:
    days: dict = {}
    for slot in slots:
        days.setdefault(slot.starts_at.astimezone(BERLIN).date(), []).append(slot)
    return days


# Free slots, pinned to a fixed now --------------------------------------------------------------------------------


def test_booking_slots_start_at_1000_local_when_now_is_0800_local_and_notice_is_two_hours(page):
    slots = slots_at(page, MONDAY)
    # 07:00 UTC + 2 h = 09:00 UTC = 10:00 Berlin, itself a slot boundary (09:00 + 2 × 30 min).
    assert slots[0] == booking.Slot(utc(2026, 3, 23, 9, 0), utc(2026, 3, 23, 9, 30))
    # Monday keeps 10:00 … 16:30: (17 − 10) × 2 = 14 slots; the last ends at 17:00 local = 16:00 UTC.
    monday = by_day(slots)[datetime(2026, 3, 23).date()]
    assert len(monday) == 14 and monday[-1].ends_at == utc(2026, 3, 23, 16, 0)


def test_booking_slots_round_up_to_the_next_boundary_when_the_notice_ends_between_slots(page):
    # 07:10 UTC + 2 h = 10:10 Berlin: 10:00 is too soon, 10:30 (09:30 UTC) is the first slot.
    assert slots_at(page, MONDAY + timedelta(minutes=10))[0].starts_at == utc(2026, 3, 23, 9, 30)


def test_booking_slots_skip_the_weekends_when_weekdays_are_monday_to_friday(page):
    days = by_day(slots_at(page, MONDAY))
    # 14 local days from Monday 23 March: 23–27 and 30 March–3 April; 28/29 March and 4/5 April are weekends.
    assert [d.isoformat() for d in sorted(days)] == [
        "2026-03-23", "2026-03-24", "2026-03-25", "2026-03-26", "2026-03-27",
        "2026-03-30", "2026-03-31", "2026-04-01", "2026-04-02", "2026-04-03"]
    # 14 on Monday (notice) + 9 full days × 16 slots = 158.
    assert len(slots_at(page, MONDAY)) == 14 + 9 * 16 == 158


def test_booking_slots_offer_0900_local_as_0700_utc_when_the_clocks_went_forward_the_day_before(page):
    days = by_day(slots_at(page, MONDAY))
    friday, monday = days[datetime(2026, 3, 27).date()], days[datetime(2026, 3, 30).date()]
    assert friday[0].starts_at == utc(2026, 3, 27, 8, 0)  # 09:00 CET
    assert monday[0].starts_at == utc(2026, 3, 30, 7, 0)  # 09:00 CEST
    assert monday[-1].starts_at == utc(2026, 3, 30, 14, 30)  # 16:30 CEST
    assert len(monday) == 16


def test_booking_slots_keep_local_hours_on_the_day_of_the_change_when_sundays_are_offered(page):
    page.weekdays = "1234567"
    sunday = by_day(slots_at(page, MONDAY))[datetime(2026, 3, 29).date()]
    # Clocks jump 02:00 → 03:00 that night; the day still has 09:00 … 16:30 local, now at UTC+2.
    assert (sunday[0].starts_at, sunday[-1].starts_at, len(sunday)) == (utc(2026, 3, 29, 7, 0),
                                                                        utc(2026, 3, 29, 14, 30), 16)


def test_booking_slots_leave_out_the_skipped_hour_when_hours_span_the_spring_change(page):
    page.weekdays, page.day_start, page.day_end, page.duration_minutes = "7", time(0, 0), time(6, 0), 60
    page.days_ahead = 2
    slots = slots_at(page, utc(2026, 3, 28, 12, 0))  # Saturday noon: Sunday's night slots are all ahead
    # 00:00 and 01:00 CET, no 02:00 (it does not exist), 03:00 … 05:00 CEST: five distinct hours.
    assert [s.starts_at for s in slots] == [utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0),
                                            utc(2026, 3, 29, 2, 0), utc(2026, 3, 29, 3, 0)]


def test_booking_slots_offer_the_repeated_hour_once_when_hours_span_the_autumn_change(page):
    page.weekdays, page.day_start, page.day_end, page.duration_minutes = "7", time(0, 0), time(6, 0), 60
    page.days_ahead = 2
    slots = slots_at(page, utc(2026, 10, 24, 12, 0))  # clocks go back 03:00 CEST → 02:00 CET on 25 October
    # 00:00, 01:00, 02:00 CEST (UTC+2), then 03:00, 04:00, 05:00 CET (UTC+1): 02:00 is offered once.
    assert [s.starts_at for s in slots] == [utc(2026, 10, 24, 22, 0), utc(2026, 10, 24, 23, 0),
                                            utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 2, 0),
                                            utc(2026, 10, 25, 3, 0), utc(2026, 10, 25, 4, 0)]


def test_booking_slots_remove_exactly_the_overlapping_slots_when_the_host_has_meetings(page):
    meeting_with(page, berlin(2026, 3, 24, 12, 0), berlin(2026, 3, 24, 13, 0))  # lunch: 12:00 and 12:30 go
    meeting_with(page, berlin(2026, 3, 24, 15, 10), berlin(2026, 3, 24, 15, 20))  # inside 15:00–15:30 only
    tuesday = by_day(slots_at(page, MONDAY))[datetime(2026, 3, 24).date()]
    labels = [s.starts_at.astimezone(BERLIN).strftime("%H:%M") for s in tuesday]
    assert "11:30" in labels and "13:00" in labels and "15:30" in labels  # touching is not overlapping
    assert not {"12:00", "12:30", "15:00"} & set(labels)
    assert len(tuesday) == 16 - 3


def test_booking_slots_ignore_meetings_of_other_hosts_when_the_host_is_free(page, account):
    grace = user_create(username="grace", email="grace@acme.test", password="another long passphrase",
                        account=account, first_name="Grace", last_name="Hopper")
    meeting_with(page, berlin(2026, 3, 24, 12, 0), berlin(2026, 3, 24, 13, 0), host=grace)
    assert len(by_day(slots_at(page, MONDAY))[datetime(2026, 3, 24).date()]) == 16


def test_booking_days_group_by_the_visitors_local_day_when_another_zone_is_shown(page):
    days = booking.booking_days(slots_at(page, MONDAY), ZoneInfo("America/New_York"))
    # 09:00 UTC is 05:00 in New York (EDT, UTC−4, since 8 March).
    assert days[0].day.isoformat() == "2026-03-23" and days[0].slots[0] == booking.ShownSlot("2026-03-23T09:00:00Z",
                                                                                              "05:00")


# Booking pages ------------------------------------------------------------------------------------------------------


def test_booking_page_for_makes_a_slug_from_the_name_with_a_suffix_when_it_is_taken(account, other_account, user):
    twin = user_create(username="ada2", email="ada@globex.test", password="another long passphrase",
                       account=other_account, first_name="Ada", last_name="Lovelace")
    with scope(account=account):
        first = booking.booking_page_for(user, account)
        assert booking.booking_page_for(user, account) == first  # created once
    with scope(account=other_account):
        second = booking.booking_page_for(twin, other_account)
    assert (first.slug, second.slug) == ("ada-lovelace", "ada-lovelace-2")
    assert (first.time_zone, second.time_zone) == ("Europe/Berlin", "UTC")  # each account's zone


def test_booking_page_for_refuses_when_the_user_is_not_a_member(account, other_account, user):
    with scope(account=other_account), pytest.raises(ValidationError):
        booking.booking_page_for(user, other_account)


def test_my_booking_page_redirects_to_the_users_page_and_shows_the_link_when_logged_in(logged_in_client, settings):
    settings.PUBLIC_URL = "https://touchline.example"
    response = logged_in_client.get(reverse("booking:mine"))
    assert response.status_code == 302 and response["Location"] == "/meet/ada-lovelace/"
    page = logged_in_client.get(response["Location"])
    assert "https://touchline.example/meet/ada-lovelace/" in page.content.decode()


def test_my_booking_page_asks_to_log_in_when_anonymous(client):
    assert client.get(reverse("booking:mine"))["Location"].startswith("/login/")


# Booking through the page ------------------------------------------------------------------------------------------


@pytest.fixture
def enrolled(cadence):
    """Grace, active in the cadence's sequence (built with the ORM)."""
    grace = cadence.contact("grace@navy.test")
    with scope(account=cadence.account):
        return Enrollment.objects.create(account=cadence.account, sequence=cadence.sequence, contact=grace,
                                         enrolled_by=cadence.user, inbox=cadence.inbox,
                                         current_step=cadence.steps[0], status=EnrollmentStatus.ACTIVE,
                                         next_due_at=timezone.now() + timedelta(days=1))


def a_free_slot(page: BookingPage) -> booking.Slot:
    # The second free slot from now: the first could fall inside the notice while the request is on its way.
    return slots_at(page, timezone.now())[1]


def book(client, page, starts_at: str, *, email="grace@navy.test", name="Grace Hopper", **fields):
    return client.post(reverse("booking:page", kwargs={"slug": page.slug}),
                       {"starts_at": starts_at, "email": email, "name": name, **fields})


def test_booking_page_lists_free_slots_in_the_hosts_zone_when_visited_anonymously(client, page):
    slot = a_free_slot(page)
    response = client.get(reverse("booking:page", kwargs={"slug": "ada"}))
    body = response.content.decode()
    assert response.status_code == 200 and "Europe/Berlin" in body and "Intro call" in body
    assert f'value="{slot.value}"' in body
    assert f"{slot.starts_at.astimezone(BERLIN):%H:%M}" in body
    assert "no-cache" in response["Cache-Control"] and "csrftoken" in response.cookies


def test_booking_page_shows_no_meeting_or_contact_when_the_host_is_busy(client, page):
    slot = a_free_slot(page)
    meeting_with(page, slot.starts_at, slot.ends_at, email="secret.buyer@navy.test")
    body = client.get(reverse("booking:page", kwargs={"slug": "ada"})).content.decode()
    assert f'value="{slot.value}"' not in body and "secret.buyer" not in body and "Busy" not in body


def test_booking_page_shows_another_zone_when_tz_is_a_valid_iana_name(client, page):
    slot = a_free_slot(page)
    body = client.get(reverse("booking:page", kwargs={"slug": "ada"}), {"tz": "Asia/Tokyo"}).content.decode()
    assert f"{slot.starts_at.astimezone(ZoneInfo('Asia/Tokyo')):%H:%M}" in body and "Asia/Tokyo" in body


def test_booking_page_falls_back_to_the_hosts_zone_with_a_message_when_tz_is_unknown(client, page):
    body = client.get(reverse("booking:page", kwargs={"slug": "ada"}), {"tz": "../../etc/passwd"}).content.decode()
    assert "is not a time zone we know; times are shown in Europe/Berlin" in body


def test_booking_page_answers_404_when_the_slug_is_unknown(client, page):
    assert client.get(reverse("booking:page", kwargs={"slug": "nobody"})).status_code == 404


def test_booking_creates_the_meeting_and_ends_the_enrollment_as_meeting_booked_when_the_contact_is_enrolled(
        client, page, enrolled):
    slot = a_free_slot(page)
    response = book(client, page, slot.value)
    assert response.status_code == 200 and "You're booked" in response.content.decode()
    with scope(account=page.account):
        meeting = Meeting.objects.get()
        assert (meeting.starts_at, meeting.ends_at) == (slot.starts_at, slot.ends_at)
        assert (meeting.source, meeting.host, meeting.contact.email) == (MeetingSource.BOOKING_PAGE, page.user,
                                                                         "grace@navy.test")
        enrollment = Enrollment.objects.get(pk=enrolled.pk)
        assert enrollment.status == EnrollmentStatus.MEETING_BOOKED and meeting.enrollment_id == enrolled.pk
        assert EngagementEvent.objects.filter(enrollment=enrolled, kind=EventKind.MEETING_BOOKED).count() == 1
        assert Contact.objects.count() == 1  # found by email (case and spaces aside), not duplicated


def test_booking_creates_a_lead_contact_when_the_email_is_new(client, page):
    assert book(client, page, a_free_slot(page).value, email=" Linus@Kernel.test ", name="Linus  B. Torvalds")\
        .status_code == 200
    with scope(account=page.account):
        contact = Contact.objects.get()
    assert (contact.email, contact.first_name, contact.last_name) == ("linus@kernel.test", "Linus", "B. Torvalds")
    assert (contact.lifecycle_stage, contact.original_source) == (LifecycleStage.LEAD, TrafficSource.OFFLINE)


def test_booking_refuses_the_second_booking_of_a_slot_with_a_clear_message_when_it_was_just_taken(client, page):
    slot = a_free_slot(page)
    assert book(client, page, slot.value).status_code == 200
    second = book(client, page, slot.value, email="linus@kernel.test", name="Linus")
    assert second.status_code == 409 and "that time was just booked" in second.content.decode()
    with scope(account=page.account):
        assert Meeting.objects.count() == 1 and not Contact.objects.filter(email="linus@kernel.test").exists()


def test_booking_refuses_a_time_outside_the_hours_when_posted_by_hand(client, page):
    slot = a_free_slot(page)
    evening = datetime.combine(slot.starts_at.astimezone(BERLIN).date(), time(20, 0), tzinfo=BERLIN)
    for starts_at in (evening.astimezone(UTC).isoformat(), (slot.starts_at + timedelta(minutes=10)).isoformat()):
        response = book(client, page, starts_at)
        assert response.status_code == 400 and "That time is not offered on this page" in response.content.decode()
    with scope(account=page.account):
        assert (Meeting.objects.count(), Contact.objects.count()) == (0, 0)


def test_booking_refuses_with_form_errors_when_fields_are_missing_or_bad(client, page):
    response = book(client, page, "not a time", email="not an email", name="")
    body = response.content.decode()
    assert response.status_code == 400
    assert "Pick one of the times listed." in body and "Enter a valid email address." in body
    assert "Tell us your name." in body


def test_booking_needs_the_csrf_token_of_the_page_when_csrf_checks_are_enforced(page):
    client, slot = Client(enforce_csrf_checks=True), a_free_slot(page)
    assert book(client, page, slot.value).status_code == 403
    client.get(reverse("booking:page", kwargs={"slug": "ada"}))
    token = client.cookies["csrftoken"].value
    assert book(client, page, slot.value, csrfmiddlewaretoken=token).status_code == 200


def test_booking_is_refused_with_429_when_one_ip_tries_more_than_ten_times_an_hour(client, page):
    for _ in range(booking.BOOKINGS_PER_IP):
        assert book(client, page, "not a time").status_code == 400
    response = book(client, page, a_free_slot(page).value)
    assert response.status_code == 429 and "Too many booking attempts" in response.content.decode()
    other_ip = client.post(reverse("booking:page", kwargs={"slug": "ada"}), {"starts_at": "x"},
                           REMOTE_ADDR="10.9.8.7")
    assert other_ip.status_code == 400


def test_booking_is_refused_with_413_when_the_body_is_over_the_cap(client, page):
    response = book(client, page, a_free_slot(page).value, name="x" * (booking.BOOKING_MAX_BODY + 1))
    assert response.status_code == 413
    with scope(account=page.account):
        assert Meeting.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_booking_create_books_once_when_two_visitors_race_for_the_same_slot(page):
    now = timezone.now()
    slot = slots_at(page, now)[1]
    barrier, outcomes = threading.Barrier(2), []

    def visitor(email: str):
        try:
            barrier.wait()
            with scope(account=page.account):
                booking.booking_create(page=page, starts_at=slot.starts_at, email=email, name="Racer", now=now)
            outcomes.append("booked")
        except booking.SlotUnavailable as refusal:
            outcomes.append("taken" if refusal.taken else "not offered")
        except Exception as error:  # noqa: BLE001 - reported below
            outcomes.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=visitor, args=(f"racer{i}@navy.test",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["booked", "taken"]
    with scopes_disabled():
        assert Meeting.all_accounts.count() == 1


# The scheduler webhook ---------------------------------------------------------------------------------------------


EVENT = {"event": "meeting.booked", "external_id": "cal-evt-1", "email": "grace@navy.test", "name": "Grace Hopper",
         "host_email": "ADA@acme.test", "starts_at": "2026-03-24T10:00:00Z", "ends_at": "2026-03-24T10:30:00Z",
         "title": "Discovery call"}


def deliver(client, account, payload=None, *, body: bytes | None = None, signature: str | None = None):
    body = body if body is not None else json.dumps(payload or EVENT).encode()
    signature = signature if signature is not None else booking.webhook_signature(account, body)
    return client.post(reverse("booking:webhook", kwargs={"account_id": account.pk}), data=body,
                       content_type="application/json", headers={"X-Touchline-Signature": signature})


def test_webhook_signature_is_the_hmac_of_the_body_under_the_per_account_secret(account, settings):
    settings.SECRET_KEY = "k" * 50
    secret = hmac.new(b"k" * 50, f"meetings-webhook:{account.pk}".encode(), hashlib.sha256).hexdigest()
    assert booking.webhook_secret(account) == secret
    assert booking.webhook_signature(account, b"{}") == \
        "sha256=" + hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()


def test_webhook_records_the_meeting_and_ends_the_enrollment_when_the_event_is_signed(client, account, user,
                                                                                     enrolled):
    response = deliver(client, account)
    assert response.status_code == 201 and response.json()["status"] == "created"
    with scope(account=account):
        meeting = Meeting.objects.get()
        assert (meeting.starts_at, meeting.ends_at) == (utc(2026, 3, 24, 10, 0), utc(2026, 3, 24, 10, 30))
        assert (meeting.source, meeting.host, meeting.title, meeting.external_id) == (
            MeetingSource.WEBHOOK, user, "Discovery call", "cal-evt-1")
        assert response.json()["meeting_id"] == meeting.pk
        assert Enrollment.objects.get(pk=enrolled.pk).status == EnrollmentStatus.MEETING_BOOKED


def test_webhook_creates_the_contact_and_leaves_the_host_empty_when_neither_is_known(client, account):
    assert deliver(client, account, {**EVENT, "email": "new@navy.test", "host_email": "stranger@else.test"}) \
        .status_code == 201
    with scope(account=account):
        meeting = Meeting.objects.get()
        assert (meeting.contact.email, meeting.contact.first_name, meeting.host) == ("new@navy.test", "Grace", None)


def test_webhook_writes_nothing_new_when_the_same_external_id_is_replayed(client, account, user):
    assert deliver(client, account).status_code == 201
    replay = deliver(client, account, {**EVENT, "email": "someone.else@navy.test", "title": "Changed"})
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    with scope(account=account):
        assert Meeting.objects.count() == 1 and Meeting.objects.get().title == "Discovery call"
        assert list(Contact.objects.values_list("email", flat=True)) == ["grace@navy.test"]


def test_webhook_refuses_with_403_and_writes_nothing_when_the_signature_is_wrong(client, account, other_account):
    body = json.dumps(EVENT).encode()
    for signature in ("", "sha256=" + "0" * 64, booking.webhook_signature(other_account, body),
                      booking.webhook_signature(account, body + b" ")):
        response = deliver(client, account, body=body, signature=signature)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    with scopes_disabled():
        assert (Meeting.all_accounts.count(), Contact.all_accounts.count()) == (0, 0)


def test_webhook_refuses_with_403_when_the_account_does_not_exist(client, account):
    body = json.dumps(EVENT).encode()
    response = client.post(reverse("booking:webhook", kwargs={"account_id": 999_999}), data=body,
                           content_type="application/json",
                           headers={"X-Touchline-Signature": booking.webhook_signature(999_999, body)})
    assert response.status_code == 403


def test_webhook_refuses_with_413_when_the_body_is_over_64_kb(client, account):
    response = deliver(client, account, {**EVENT, "padding": "x" * booking.WEBHOOK_MAX_BODY})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    with scope(account=account):
        assert Meeting.objects.count() == 0


def test_webhook_refuses_with_422_naming_every_missing_field_when_fields_are_missing(client, account):
    response = deliver(client, account, {"event": "meeting.booked", "email": "grace@navy.test", "ends_at": "soon"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {"external_id", "starts_at", "ends_at"}
    assert error["fields"]["external_id"] == "This field is required."
    assert "ISO 8601" in error["fields"]["ends_at"]


def test_webhook_refuses_with_422_when_the_body_is_not_a_json_object_or_times_are_reversed(client, account):
    for body in (b"{not json", b"[1, 2]"):
        assert deliver(client, account, body=body).status_code == 422
    reversed_times = deliver(client, account, {**EVENT, "ends_at": "2026-03-24T09:00:00Z"})
    assert reversed_times.status_code == 422 and reversed_times.json()["error"]["fields"] == {
        "ends_at": "Must be after starts_at."}
    with scope(account=account):
        assert (Meeting.objects.count(), Contact.objects.count()) == (0, 0)


def test_webhook_ignores_other_events_when_they_are_signed(client, account):
    response = deliver(client, account, {**EVENT, "event": "meeting.cancelled"})
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    with scope(account=account):
        assert Meeting.objects.count() == 0


def test_webhook_answers_405_when_the_method_is_get(client, account):
    assert client.get(reverse("booking:webhook", kwargs={"account_id": account.pk})).status_code == 405


def test_webhook_answers_429_when_one_ip_floods_it(client, account, monkeypatch):
    monkeypatch.setattr(booking, "WEBHOOK_REQUESTS_PER_IP", 2)
    statuses = [deliver(client, account, signature="sha256=bad").status_code for _ in range(3)]
    assert statuses == [403, 403, 429]


def test_webhook_of_one_account_does_not_reach_another_accounts_members(client, account, other_account, user):
    # Ada is a member of Acme only: an event for Globex naming her as host records no host.
    assert deliver(client, other_account).status_code == 201
    with scope(account=other_account):
        assert Meeting.objects.get().host is None


def test_webhook_matches_the_host_by_email_when_several_users_are_in_the_account(client, account, user):
    grace = user_create(username="grace", email="grace.h@acme.test", password="another long passphrase",
                        account=account, role=Role.MEMBER)
    assert deliver(client, account, {**EVENT, "host_email": "Grace.H@acme.test"}).status_code == 201
    with scope(account=account):
        assert Meeting.objects.get().host == grace
