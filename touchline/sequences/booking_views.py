"""Public booking pages (`/meet/<slug>/`), the signed scheduler webhook (`/meet/webhook/<account_id>/`) and the
logged-in shortcut to one's own page (`/meet/`). The rules live in `booking.py`; these views parse and render.

Public views run without login: the page is looked up by its slug with scopes disabled, and everything after
that inside `scope(account=page.account)` — whatever account a logged-in visitor happens to be in.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_scopes import scope

from touchline.api.errors import error_body
from touchline.core.http import client_ip
from touchline.sequences import booking
from touchline.sequences.tokens import public_url


class BookingForm(forms.Form):
    starts_at = forms.CharField(max_length=40, error_messages={"required": "Pick a time."})
    name = forms.CharField(max_length=200, error_messages={"required": "Tell us your name."})
    email = forms.EmailField(max_length=254, error_messages={"required": "We need your email to confirm."})
    tz = forms.CharField(max_length=64, required=False)

    def clean_starts_at(self):
        value = booking.slot_start_parse(self.cleaned_data["starts_at"])
        if value is None:
            raise ValidationError("Pick one of the times listed.")
        return value


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _render_page(request, page, *, form=None, error: str = "", status: int = 200):
    asked = (request.GET.get("tz") or request.POST.get("tz") or "").strip()[:64]
    host_zone = booking.page_zone(page)
    shown_zone = booking.zone_or_none(asked) or host_zone
    with scope(account=page.account):
        days = booking.booking_days(booking.booking_slots(page, timezone.now()), shown_zone)
    is_host = request.user.is_authenticated and request.user.pk == page.user_id
    context = {
        "page": page, "host_name": page.user.get_full_name() or page.user.username, "days": days,
        "zone": shown_zone.key, "host_zone": host_zone.key,
        "zone_error": f"“{asked}” is not a time zone we know; times are shown in {shown_zone.key}."
                      if asked and booking.zone_or_none(asked) is None else "",
        "form": form or BookingForm(), "error": error, "is_host": is_host,
        "share_url": public_url(reverse("booking:page", kwargs={"slug": page.slug})) if is_host else "",
    }
    return render(request, "sequences/booking_page.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@never_cache  # slots change with every booking
def booking_page(request, slug: str):
    page = booking.booking_page_by_slug(slug)
    if page is None:
        raise Http404("No such booking page")
    if request.method != "POST":
        return _render_page(request, page)
    if _content_length(request) > booking.BOOKING_MAX_BODY:
        return HttpResponse("Request too large.\n", status=413, content_type="text/plain")
    if not booking.booking_attempt_allowed(client_ip(request)):
        return _render_page(request, page, status=429,
                            error="Too many booking attempts from your network. Please try again in an hour.")
    form = BookingForm(request.POST)
    if not form.is_valid():
        return _render_page(request, page, form=form, status=400, error="Please correct the form below.")
    data = form.cleaned_data
    try:
        with scope(account=page.account):
            meeting = booking.booking_create(page=page, starts_at=data["starts_at"], email=data["email"],
                                             name=data["name"], now=timezone.now())
    except booking.SlotUnavailable as refusal:
        return _render_page(request, page, form=form, status=409 if refusal.taken else 400,
                            error=refusal.message_text)
    zone = booking.zone_or_none(data["tz"]) or booking.page_zone(page)
    return render(request, "sequences/booking_done.html", {
        "page": page, "host_name": page.user.get_full_name() or page.user.username, "email": data["email"],
        "starts_local": meeting.starts_at.astimezone(zone).replace(tzinfo=None),
        "ends_local": meeting.ends_at.astimezone(zone).replace(tzinfo=None), "zone": zone.key,
    })


@require_safe
@login_required
def my_booking_page(request):
    """The logged-in user's own booking page (created on first visit); the page shows them its link to share."""
    if request.account is None:
        raise Http404("No account")
    page = booking.booking_page_for(request.user, request.account)
    return redirect("booking:page", slug=page.slug)


def _json_error(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, fields), status=status)


# Exempt from CSRF: the scheduler's server posts with no cookie; the HMAC signature of the body under the
# account's secret is what authorises the request, not a session.
@csrf_exempt
@require_POST
def webhook(request, account_id: int):
    if not booking.webhook_request_allowed(client_ip(request)):
        return _json_error(429, "rate_limited", "Too many requests; retry in a minute.")
    if _content_length(request) > booking.WEBHOOK_MAX_BODY:
        return _json_error(413, "too_large", f"The body is over {booking.WEBHOOK_MAX_BODY // 1024} KB.")
    body = request.body
    if len(body) > booking.WEBHOOK_MAX_BODY:
        return _json_error(413, "too_large", f"The body is over {booking.WEBHOOK_MAX_BODY // 1024} KB.")
    account = booking.webhook_account(account_id)
    # An unknown account answers like a bad signature: the endpoint does not tell which accounts exist.
    if account is None or not booking.webhook_signature_valid(account, body,
                                                              request.headers.get(booking.SIGNATURE_HEADER)):
        return _json_error(403, "forbidden", f"The {booking.SIGNATURE_HEADER} header is missing or does not "
                                             "match the body signed with this account's webhook secret.")
    try:
        event = booking.webhook_payload_parse(body)
    except booking.WebhookInvalid as invalid:
        return _json_error(422, "invalid", invalid.message, invalid.fields)
    if event.event != booking.WEBHOOK_EVENT:
        # Schedulers send cancellations and other events to the same URL; refusing them would make them retry.
        return JsonResponse({"status": "ignored", "message": f"Event {event.event!r} is not handled."})
    try:
        with scope(account=account):
            meeting, created = booking.webhook_meeting_record(account=account, booking=event)
    except ValidationError as error:
        fields = {k: " ".join(v) for k, v in error.message_dict.items()} if hasattr(error, "error_dict") else {}
        return _json_error(422, "invalid", "; ".join(fields.values()) or " ".join(error.messages), fields)
    return JsonResponse({"status": "created" if created else "duplicate", "meeting_id": meeting.pk},
                        status=201 if created else 200)
