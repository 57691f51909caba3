"""Walk every URL of the app as a user of account A against the objects of account B.

Each pattern with an object id must answer 404 or 403 (405 for a method it doesn't take); each pattern without one
must not show any of B's data. New URLs join the walk by themselves: a URL keyword this file cannot fill makes the
test fail until its object is registered in OBJECT_KWARGS, so no page can silently skip the walk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_scopes import scope

from touchline.api.tokens import api_token_create
from touchline.core.accounts import account_create, user_create
from touchline.core.models import Role
from touchline.crm.services import company_create, contact_create, deal_create

# Patterns left out, each with the reason.
EXCLUDED_PREFIXES = {
    "admin/": "the operators' console for staff; cross-account by design, closed to account users",
    "static/": "static files hold no account data",
}
EXCLUDED_EXACT = {
    "login/": "public by design",
    "logout/": "ends the session; holds no data",
    "t.js": "the tracking snippet: one static script, the same for everyone",
}
NO_DATA_PATTERN = re.compile(r"(openapi\.json|docs/?)$")  # the API's schema and docs describe shapes, not rows

B_MARKER = "Bsecretmarker"

# URL keyword -> how to find account B's object for it.
OBJECT_KWARGS: dict[str, Callable[[dict], object]] = {
    "contact_id": lambda b: b["contact"].pk,
    "company_id": lambda b: b["company"].pk,
    "deal_id": lambda b: b["deal"].pk,
    "token_id": lambda b: b["token"].pk,
    "report_key": lambda b: "deals_by_stage",  # reports are shared definitions; the data must still be A's
    # The public email links (/t/) take a signed token, not an id: no session can reach B's messages through
    # them, and a token that does not verify must be refused (touchline/sequences/tests/test_tracking.py).
    "token": lambda b: "not-a-valid-token",
    # Booking pages are public by design (see PUBLIC_BY_DESIGN): B's page, with a meeting whose title and contact
    # carry the marker, so the walk checks the page shows free times only, never a meeting or a contact.
    "slug": lambda b: _b_booking_page_slug(b),
    # The scheduler webhook of account B: without B's signature it must refuse (403), whoever is logged in.
    "account_id": lambda b: b["account"].pk,
    "sequence_id": lambda b: _b_sequence(b)["sequence"].pk,
    "step_id": lambda b: _b_sequence(b)["step"].pk,
    "task_id": lambda b: _b_sequence(b)["task"].pk,
    "enrollment_id": lambda b: _b_sequence(b)["enrollment"].pk,
    "status": lambda b: "active",  # an enrollment status: a shared value, the rows must still be A's
    # A file of the local outbox; whether B's own file is refused to A is tested in sequences/tests/test_outbox.py.
    "name": lambda b: "0-not-in-this-outbox.eml",
    "campaign_id": lambda b: _b_campaign(b)["campaign"].pk,
    "association_id": lambda b: _b_campaign(b)["association"].pk,
    "asset_id": lambda b: _b_campaign(b)["association"].asset_id,  # B's form asset
    "site_id": lambda b: _b_campaign(b)["site"].pk,
    # A form's public key: its definition (fields only) is public by design, see PUBLIC_BY_DESIGN.
    "key": lambda b: _b_campaign(b)["form"].key,
    # The key of B's SendGrid event webhook (/webhooks/esp/<provider>/<key>): a request without SendGrid's signature
    # must be refused (403) whoever is logged in; the other providers' routes answer 404 for a SendGrid key.
    "webhook_key": lambda b: _b_esp_webhook_key(b),
    # B's dashboard (shared with everyone in B), its tile and the saved report on it; names carry the marker.
    "dashboard_id": lambda b: _b_dashboard(b)["dashboard"].pk,
    "tile_id": lambda b: _b_dashboard(b)["tile"].pk,
    "saved_report_id": lambda b: _b_dashboard(b)["saved_report"].pk,
}
# Routes that show account B's object to anyone on purpose, and why. The walk still requests them as A's user
# and anonymously and checks they show none of B's data; it does not expect a refusal.
PUBLIC_BY_DESIGN = {
    "meet/<slug:slug>/": "a booking page is a host's public link: anyone may see its free times and book one",
    "t/forms/<str:key>": "a form's embed fetches its fields from any website; it answers field names only",
    "t/forms/<str:key>/submit": "any website's visitor may submit a form; it answers what was wrong, not data",
}
# Public routes that take only POST: anonymous GETs must answer 405.
POST_ONLY = {"t/forms/<str:key>/submit"}
# Routes that answer every request alike, with nothing of any account in it: the open pixel answers the same
# 1x1 GIF to any token, valid or not, so mail clients never show a broken image; it records nothing for a bad one.
SAME_ANSWER_FOR_ANY_TOKEN = {"t/o/<str:token>.gif"}
# Keywords that name a shared definition, not an account's object: the page must answer, with A's data only.
SHARED_KWARGS = {"report_key", "status"}


def _b_sequence(b: dict) -> dict:
    """Account B's sequence (its name carries the marker), one step, and B's contact enrolled in it; made once."""
    if "sequence" not in b:
        from touchline.sequences.models import Inbox, Sequence, Step, StepType
        from touchline.sequences.sending import step_run
        from touchline.sequences.services import enrollments_create

        with scope(account=b["account"]):
            sequence = Sequence.objects.create(account=b["account"], name=f"{B_MARKER} sequence")
            step = Step.objects.create(account=b["account"], sequence=sequence, position=1, step_type=StepType.CALL,
                                       task_title=f"{B_MARKER} call")
            inbox = Inbox.objects.create(account=b["account"], user=b["user"], from_name="B",
                                         from_email=b["user"].email)
            [enrollment] = enrollments_create(sequence=sequence, contacts=[b["contact"]], inbox=inbox,
                                              enrolled_by=b["user"]).enrolled
            task = step_run(enrollment_id=enrollment.pk)  # the call step becomes B's task
        b |= {"sequence": sequence, "step": step, "inbox": inbox, "task": task, "enrollment": enrollment}
    return b


def _b_campaign(b: dict) -> dict:
    """Account B's site, form and campaign (names carry the marker), the form associated with it; made once."""
    if "campaign" not in b:
        from touchline.campaigns import services as campaigns
        from touchline.tracking import services as tracking

        with scope(account=b["account"]):
            site = tracking.site_create(account=b["account"], name=f"{B_MARKER} site", domains="b.test")
            form = tracking.form_create(account=b["account"], site=site, name=f"{B_MARKER} form",
                                        fields=[{"name": "email"}])
            campaign = campaigns.campaign_create(account=b["account"], name=f"{B_MARKER} campaign")
            association = campaigns.association_add(campaign=campaign, asset=campaigns.form_asset(form=form))
        b |= {"site": site, "form": form, "campaign": campaign, "association": association}
    return b


def _b_dashboard(b: dict) -> dict:
    if "dashboard" not in b:
        from touchline.reports.services import NewDashboard, report_save

        with scope(account=b["account"]):
            saved, dashboard = report_save(account=b["account"], owner=b["user"], name=f"{B_MARKER} report",
                                           report_key="deals_by_stage", params={},
                                           new_dashboard=NewDashboard(f"{B_MARKER} dashboard", "everyone"))
            b |= {"dashboard": dashboard, "saved_report": saved, "tile": dashboard.tiles.get()}
    return b


def _b_esp_webhook_key(b: dict) -> str:
    from touchline.sequences.models import EspWebhook

    webhook, _ = EspWebhook.all_accounts.get_or_create(account=b["account"], provider="sendgrid",
                                                       defaults={"secret": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"})
    return webhook.key


def _b_booking_page_slug(b: dict) -> str:
    from touchline.sequences.booking import booking_page_for
    from touchline.sequences.models import MeetingSource
    from touchline.sequences.services import meeting_record

    with scope(account=b["account"]):
        page = booking_page_for(b["user"], b["account"])
        starts_at = timezone.now() + timedelta(days=1)
        meeting_record(contact=b["contact"], starts_at=starts_at, ends_at=starts_at + timedelta(hours=1),
                       source=MeetingSource.LOGGED, host=b["user"], title=f"{B_MARKER} meeting",
                       external_id="walk-b-meeting")
    return page.slug


def _routes(resolver: URLResolver | None = None, prefix: str = ""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def _fill(route: str, b_objects: dict) -> tuple[str, set[str]]:
    names = set(re.findall(r"<(?:\w+:)?(\w+)>", route))
    unknown = names - OBJECT_KWARGS.keys()
    assert not unknown, (f"URL {route!r} has keyword(s) {sorted(unknown)} the tenant walk cannot fill: "
                         "register them in OBJECT_KWARGS in tests/test_tenant_walk.py")
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(OBJECT_KWARGS[m.group(1)](b_objects)), route)
    return "/" + path.lstrip("^").rstrip("$"), names


def _seed(name: str) -> dict:
    account = account_create(name=f"{name} account")
    user = user_create(username=f"user-{name}", email=f"{name}@example.test", password="a long passphrase 1",
                       account=account, role=Role.ADMIN)
    with scope(account=account):
        company = company_create(account=account, name=f"{name} {B_MARKER if name == 'b' else ''} company")
        contact = contact_create(account=account, email=f"person@{name}.test", first_name=f"{name}{B_MARKER}"
                                 if name == "b" else name, company=company)
        deal = deal_create(account=account, name=f"{name} {B_MARKER if name == 'b' else ''} deal", amount="10",
                           company=company, contacts=[contact])
    token, plain = api_token_create(user=user, account=account, name=f"{name} token")
    return {"account": account, "user": user, "company": company, "contact": contact, "deal": deal,
            "token": token, "plain_token": plain}


def _walkable_routes():
    for route in _routes():
        if any(route.startswith(p) for p in EXCLUDED_PREFIXES) or route in EXCLUDED_EXACT:
            continue
        if not route or route[0] == "^" and route.startswith("^static"):
            continue
        yield route


def _assert_same_answer_for_any_token(client, path: str) -> None:
    other = path.replace("not-a-valid-token", "another-bad-token")
    first, second = client.get(path), client.get(other)
    assert first.status_code == second.status_code == 200, f"GET {path} -> {first.status_code}"
    assert first.content == second.content and first["Content-Type"] == second["Content-Type"], \
        f"GET {path} answers differently for different tokens"
    assert client.post(path).status_code == 405, f"POST {path} is not refused"


@pytest.mark.django_db
def test_every_url_refuses_account_b_objects_to_a_user_of_account_a(client):
    a, b = _seed("a"), _seed("b")
    client.force_login(a["user"])
    api_headers = {"Authorization": f"Bearer {a['plain_token']}"}
    checked = []
    for route in _walkable_routes():
        path, names = _fill(route, b)
        headers = api_headers if path.startswith("/api/") else {}
        methods = ("get", "post", "patch", "delete") if path.startswith("/api/") else ("get", "post")
        if route in SAME_ANSWER_FOR_ANY_TOKEN:
            _assert_same_answer_for_any_token(client, path)
            checked.append(("get", path))
            continue
        statuses = {}
        for method in methods:
            response = getattr(client, method)(path, {}, headers=headers, content_type="application/json")
            body = response.content.decode(errors="replace")
            assert response.status_code < 500, f"{method.upper()} {path} -> {response.status_code}"
            assert B_MARKER not in body, f"{method.upper()} {path} shows account B's data"
            statuses[method] = response.status_code
            checked.append((method, path))
        if names - SHARED_KWARGS and route not in PUBLIC_BY_DESIGN:
            # A method the URL does not take may answer 405; every other must refuse, and one must exist.
            assert set(statuses.values()) <= {403, 404, 405}, f"{path} -> {statuses}"
            assert set(statuses.values()) & {403, 404}, f"{path} -> {statuses}"
    assert len(checked) >= 20, "the walk found suspiciously few URLs"


@pytest.mark.django_db
def test_every_url_without_login_redirects_to_login_or_refuses(client):
    b = _seed("b")
    for route in _walkable_routes():
        path, _ = _fill(route, b)
        if NO_DATA_PATTERN.search(path):
            continue
        if route in SAME_ANSWER_FOR_ANY_TOKEN:
            _assert_same_answer_for_any_token(client, path)
            continue
        response = client.get(path)
        assert B_MARKER not in response.content.decode(errors="replace"), f"GET {path} leaks to anonymous"
        if route in PUBLIC_BY_DESIGN:
            expected = 405 if route in POST_ONLY else 200
            assert response.status_code == expected, f"GET {path} -> {response.status_code}"
        elif path.startswith("/api/"):
            assert response.status_code in {401, 403, 404, 405}, f"GET {path} -> {response.status_code}"
        else:
            assert response.status_code in {302, 404, 405}, f"GET {path} -> {response.status_code}"
            if response.status_code == 302:
                assert response["Location"].startswith("/login/"), f"GET {path} redirects elsewhere"
