"""Writes of web tracking: sites, page views with sessionisation, drops, forms and form submissions (which create
or update contacts and identify visitors). The collector and the form endpoint call these; so do the demo and
the importer, so demo data goes through the same rules as real hits.

Sessions (SPEC §0, §3): a page view continues the visitor's latest session unless that session has been idle for
more than SESSION_TIMEOUT, the view carries a utm_campaign other than the session's, or it arrives from an
external referrer other than the session's own (a new source). The new session's traffic source comes from
`sources.session_source`; a timeout session whose referrer is one of the site's own pages has no source of its
own and is direct traffic (docs/web-tracking.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from touchline.core.db import execute_one
from touchline.core.models import Account
from touchline.crm import services as crm_services
from touchline.crm.models import Contact, TrafficSource
from touchline.crm.selectors import contact_by_email
from touchline.tracking.models import (
    CollectorDrop,
    Form,
    FormSubmission,
    PageView,
    PendingHit,
    Site,
    Visitor,
    WebSession,
)
from touchline.tracking.signals import page_view_recorded, page_views_recorded, visitor_identified
from touchline.tracking.sources import TrafficSource as Source
from touchline.tracking.sources import is_external_referrer, session_source

SESSION_TIMEOUT = timedelta(minutes=30)
UTM_KEYS = ("utm_campaign", "utm_source", "utm_medium", "utm_term", "utm_content")


@dataclass(frozen=True)
class Hit:
    """One page view as the collector accepted it (already validated, see collector.py)."""

    hit_id: str
    visitor_key: str
    url: str
    title: str = ""
    referrer: str = ""
    screen_width: int | None = None
    occurred_at: datetime | None = None


def site_create(*, account: Account, name: str, domains: str) -> Site:
    site = Site(account=account, name=name.strip(), domains="\n".join(domains.split()))
    if not site.hosts:
        raise ValidationError({"domains": "Give at least one hostname the site is served from."})
    site.full_clean(exclude=["account", "key"])
    site.save()
    return site


def page_of(url: str) -> str:
    """The page a URL shows: lower-case host without www., path without trailing slash, no query or fragment
    (the same as campaigns.models.page_key, which page assets store)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    return f"{host}{parts.path.rstrip('/') or '/'}"


def utm_of(url: str) -> dict[str, str]:
    query = dict(parse_qsl(urlsplit(url).query))
    return {key: query.get(key, "").strip()[:255] for key in UTM_KEYS}


def _starts_new_session(
    last: WebSession | None, *, at: datetime, utm: dict[str, str], referrer: str, own_hosts
) -> bool:
    if last is None or at - last.last_seen_at > SESSION_TIMEOUT:
        return True
    if utm["utm_campaign"] and utm["utm_campaign"] != last.utm_campaign:
        return True
    return is_external_referrer(referrer, own_hosts) and referrer != last.referrer


PENDING_INSERT = (
    f"INSERT INTO {PendingHit._meta.db_table} (account_id, site_id, hit_id, visitor_key, occurred_at, url, title, "
    "referrer, screen_width) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (site_id, hit_id) DO NOTHING")


def hit_enqueue(*, site: Site, hit: Hit) -> None:
    """The collector's write: one INSERT of the accepted hit, ignored when the site already has its id (a retry).
    Committed when this returns, so the collector may answer 2xx; sessionising comes later, in the worker.
    Plain SQL (portable: SQLite and PostgreSQL both say ON CONFLICT … DO NOTHING) because this runs once per hit
    and the ORM's insert machinery costs more than the insert."""
    occurred_at = connection.ops.adapt_datetimefield_value(hit.occurred_at or timezone.now())
    execute_one(PENDING_INSERT, [site.account_id, site.pk, hit.hit_id, hit.visitor_key, occurred_at, hit.url,
                                 hit.title, hit.referrer, hit.screen_width])


# Hits sessionised per transaction. On SQLite a batch holds the write lock while it runs and the collector's inserts
# wait for it: 100 hits take ~20 ms here (500: ~100 ms, for only ~15% more hits/s; bench/README.md).
PENDING_BATCH = 100


def pending_hits_process(*, site: Site | None = None, visitor_key: str = "", limit: int = PENDING_BATCH) -> int:
    """Sessionise up to `limit` pending hits, oldest first (all sites, or one visitor of one site), and delete
    them, in one transaction; returns how many were processed. The batch is set-based (hits_sessionise) and gives
    exactly what pageview_record would give hit by hit in the same order; a batch interrupted half-way leaves
    nothing behind and is simply processed again, and a hit id already stored as a page view is skipped."""
    with transaction.atomic():
        pending = PendingHit.all_accounts.select_related("site").order_by("occurred_at", "pk")
        if site is not None:
            pending = pending.filter(site=site, visitor_key=visitor_key)
        # Locked (PostgreSQL; SQLite's IMMEDIATE transaction already holds the write lock): a form submission
        # sessionising its visitor and the worker never take the same hit.
        batch = list(pending.select_for_update(of=("self",))[:limit])
        if batch:
            hits_sessionise(batch)
            PendingHit.all_accounts.filter(pk__in=[row.pk for row in batch]).delete()
    return len(batch)


def pending_hits_drain() -> int:
    """Process pending hits until none is left (the worker's periodic task)."""
    total = 0
    while processed := pending_hits_process():
        total += processed
    return total


def hits_sessionise(rows: list[PendingHit]) -> None:
    """Store pending hits (in time order) as page views and sessions, set-based: a few queries per batch instead
    of a handful per hit. The rules are pageview_record's, applied in memory to each visitor's latest session as
    the batch goes; the page_views_recorded signal then carries every (view, session, new session) in the same
    order, once the batch's rows are written (so a session is as stored at the end of the batch). Runs in the
    caller's transaction."""
    stored = _stored_hit_ids(rows)
    rows = [row for row in rows if (row.site_id, row.hit_id) not in stored]
    if not rows:
        return
    visitors = _visitors_get_or_create(rows)
    latest = {session.visitor_id: session for session in _latest_sessions([v.pk for v in visitors.values()])}
    hosts = {row.site_id: row.site.hosts for row in rows}
    new_sessions, added, views = [], {}, []  # added: views added to each session stored before the batch
    for row in rows:
        visitor, at = visitors[row.site_id, row.visitor_key], row.occurred_at
        last = latest.get(visitor.pk)
        utm = utm_of(row.url)
        if _starts_new_session(last, at=at, utm=utm, referrer=row.referrer, own_hosts=hosts[row.site_id]):
            session = _session_new(row.site, visitor, row.url, row.referrer, at, utm, is_first=last is None)
            new_sessions.append(session)
            # The latest session is the one last seen, the newest on a tie; a late hit's new session (a campaign
            # or referrer change at a time before the current one's last view) is not.
            if last is None or at >= last.last_seen_at:
                latest[visitor.pk] = session
        else:
            session = last
            session.page_views += 1
            session.last_seen_at = max(at, session.last_seen_at)
            if session.pk is not None:
                added[session] = added.get(session, 0) + 1
        views.append((PageView(account_id=row.account_id, site_id=row.site_id, visitor=visitor, hit_id=row.hit_id,
                               occurred_at=at, url=row.url, page=page_of(row.url)[:1000], title=row.title,
                               referrer=row.referrer, screen_width=row.screen_width), session, session is not last))
    WebSession.all_accounts.bulk_create(new_sessions)
    _sessions_continue(added)
    for view, session, _ in views:
        view.session = session
    PageView.all_accounts.bulk_create([view for view, _, _ in views])
    page_views_recorded.send(sender=PageView, notes=views)


def _stored_hit_ids(rows: list[PendingHit]) -> set[tuple[int, str]]:
    by_site: dict[int, list[str]] = {}
    for row in rows:
        by_site.setdefault(row.site_id, []).append(row.hit_id)
    return {(site_id, hit_id) for site_id, hit_ids in by_site.items()
            for hit_id in PageView.all_accounts.filter(site_id=site_id, hit_id__in=hit_ids).values_list("hit_id",
                                                                                                    flat=True)}


def _visitors_get_or_create(rows: list[PendingHit]) -> dict[tuple[int, str], Visitor]:
    """The batch's visitors by (site, key); a new one is first seen at its first hit of the batch. Made with
    ignore_conflicts and read back, so one made meanwhile by another writer is simply used."""
    first_hit: dict[tuple[int, str], PendingHit] = {}
    for row in rows:
        first_hit.setdefault((row.site_id, row.visitor_key), row)

    def read() -> dict[tuple[int, str], Visitor]:
        by_site: dict[int, list[str]] = {}
        for site_id, key in first_hit:
            by_site.setdefault(site_id, []).append(key)
        return {(v.site_id, v.key): v for site_id, keys in by_site.items()
                for v in Visitor.all_accounts.filter(site_id=site_id, key__in=keys)}

    visitors = read()
    missing = [Visitor(account_id=row.account_id, site_id=site_id, key=key, first_seen_at=row.occurred_at)
               for (site_id, key), row in first_hit.items() if (site_id, key) not in visitors]
    if missing:
        Visitor.all_accounts.bulk_create(missing, ignore_conflicts=True)
        visitors = read()
    return visitors


def _latest_sessions(visitor_ids: list[int]) -> list[WebSession]:
    """Each visitor's latest session: last seen, the newest on a tie (pageview_record's choice)."""
    if not visitor_ids:
        return []
    ranked = WebSession.all_accounts.filter(visitor_id__in=visitor_ids).annotate(
        rank=Window(RowNumber(), partition_by=F("visitor_id"), order_by=[F("last_seen_at").desc(), F("pk").desc()]))
    return list(ranked.filter(rank=1))


def _session_new(site: Site, visitor: Visitor, url: str, referrer: str, at: datetime, utm: dict[str, str], *,
                 is_first: bool) -> WebSession:
    """A new session (unsaved) landing on `url`, with its traffic source."""
    source = session_source(landing_url=url, referrer=referrer, own_hosts=site.hosts) or Source(
        kind=TrafficSource.DIRECT
    )
    return WebSession(account_id=site.account_id, site=site, visitor=visitor, started_at=at, last_seen_at=at,
                      page_views=1, is_first=is_first, landing_url=url, referrer=referrer, source=source.kind,
                      source_detail=source.detail[:255], source_subdetail=source.subdetail[:255], **utm)


SESSION_UPDATE_CHUNK = 200


def _sessions_continue(added: dict[WebSession, int]) -> None:
    """Write the views (`added`, a count per session) and last-seen time that the batch added to sessions stored
    before it: one UPDATE per chunk, each row's values picked by CASE on its id. Plain SQL (the same on SQLite and
    PostgreSQL): the ORM took ~0.7 ms per session to build the same statement from When(pk=…) objects."""
    table = WebSession._meta.db_table
    sessions = list(added)
    for start in range(0, len(sessions), SESSION_UPDATE_CHUNK):
        chunk = sessions[start:start + SESSION_UPDATE_CHUNK]
        whens = " ".join(["WHEN %s THEN %s"] * len(chunk))
        params = [value for s in chunk for value in (s.pk, added[s])]
        params += [value for s in chunk
                   for value in (s.pk, connection.ops.adapt_datetimefield_value(s.last_seen_at))]
        params += [s.pk for s in chunk]
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET page_views = page_views + CASE id {whens} END, "
                           f"last_seen_at = CASE id {whens} END WHERE id IN ({', '.join(['%s'] * len(chunk))})",
                           params)


def pageview_record(*, site: Site, hit: Hit) -> tuple[PageView, bool]:
    """Store one page view, durably and once: returns (view, created). A hit id already stored for the site
    returns the stored view and changes nothing, so a client retrying after a lost answer is harmless."""
    at = hit.occurred_at or timezone.now()
    existing = PageView.all_accounts.filter(site=site, hit_id=hit.hit_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            view = _pageview_insert(site, hit, at)
    except IntegrityError:  # the same hit, retried concurrently, won the race
        return PageView.all_accounts.get(site=site, hit_id=hit.hit_id), False
    return view, True


def _pageview_insert(site: Site, hit: Hit, at: datetime) -> PageView:
    visitor, _ = Visitor.all_accounts.get_or_create(
        site=site, key=hit.visitor_key, defaults={"account_id": site.account_id, "first_seen_at": at}
    )
    # The latest session: last seen, the newest on a tie (a late hit's session can end where another does).
    last = WebSession.all_accounts.filter(visitor=visitor).order_by("-last_seen_at", "-pk").first()
    utm = utm_of(hit.url)
    if _starts_new_session(last, at=at, utm=utm, referrer=hit.referrer, own_hosts=site.hosts):
        session = _session_new(site, visitor, hit.url, hit.referrer, at, utm, is_first=last is None)
        session.save(force_insert=True)
    else:
        session = last
        WebSession.all_accounts.filter(pk=session.pk).update(
            page_views=F("page_views") + 1, last_seen_at=max(at, session.last_seen_at)
        )
    view = PageView.all_accounts.create(
        account_id=site.account_id,
        site=site,
        session=session,
        visitor=visitor,
        hit_id=hit.hit_id,
        occurred_at=at,
        url=hit.url,
        page=page_of(hit.url)[:1000],
        title=hit.title,
        referrer=hit.referrer,
        screen_width=hit.screen_width,
    )
    page_view_recorded.send(sender=PageView, view=view, session=session, new_session=session is not last)
    return view


def drop_count(*, reason: str, site: Site | None = None, day: date | None = None) -> None:
    """Count one refused hit. Best effort by design: a drop is never stored, so failing to count it loses
    nothing but the counter."""
    day = day or timezone.now().date()
    key = site.key if site else ""
    account_id = site.account_id if site else None
    updated = CollectorDrop.objects.filter(site_key=key, day=day, reason=reason).update(count=F("count") + 1)
    if not updated:
        try:
            with transaction.atomic():
                CollectorDrop.objects.create(account_id=account_id, site_key=key, day=day, reason=reason, count=1)
        except IntegrityError:
            CollectorDrop.objects.filter(site_key=key, day=day, reason=reason).update(count=F("count") + 1)


def cookieless_visitor_key(*, site: Site, ip: str, user_agent: str, salt: str, day: date) -> str:
    """A visitor id without a cookie (the snippet's cookieless mode): a hash of the day's secret salt, the site,
    the anonymised address and the agent. It changes every day and cannot be turned back into an address."""
    material = "|".join((salt, day.isoformat(), site.key, anonymise_ip(ip), user_agent))
    return "cl-" + hashlib.sha256(material.encode()).hexdigest()[:32]


def anonymise_ip(ip: str) -> str:
    """Drop the host part: the last octet of IPv4, the last 80 bits of IPv6 (as Matomo's default does)."""
    if ":" in ip:
        groups = ip.split(":")
        return ":".join(groups[:3]) + "::"
    octets = ip.split(".")
    return ".".join(octets[:3] + ["0"]) if len(octets) == 4 else ""


# Forms ---------------------------------------------------------------------------------------------------------

CONTACT_PROPERTIES = ("email", "first_name", "last_name", "job_title", "phone")
FIELD_TYPES = ("text", "email", "tel", "textarea")
MAX_FIELD_LENGTH = 2000


def form_create(
    *, account: Account, site: Site, name: str, fields: list[dict], thank_you: str = "", created_by=None
) -> Form:
    clean = _form_fields_clean(fields)
    form = Form(account=account, site=site, name=name.strip(), fields=clean, created_by=created_by)
    if thank_you.strip():
        form.thank_you = thank_you.strip()
    form.full_clean(exclude=["account", "site", "key", "created_by", "fields"])
    form.save()
    return form


def _form_fields_clean(fields: list[dict]) -> list[dict]:
    clean, names = [], set()
    for field in fields:
        name = str(field.get("name", "")).strip()
        kind = field.get("type", "text")
        if not name.isidentifier() or name in names:
            raise ValidationError({"fields": f"Field names must be unique identifiers (got {name!r})."})
        if kind not in FIELD_TYPES:
            raise ValidationError({"fields": f"Field {name}: type must be one of {', '.join(FIELD_TYPES)}."})
        names.add(name)
        clean.append(
            {
                "name": name,
                "label": str(field.get("label") or name.replace("_", " ").capitalize()),
                "type": kind,
                "required": bool(field.get("required", False)),
            }
        )
    if "email" not in names:
        raise ValidationError({"fields": "A form needs an email field: it is what identifies the contact."})
    next(f for f in clean if f["name"] == "email").update(type="email", required=True)
    return clean


def submission_validate(form: Form, data: dict) -> dict[str, str]:
    """The submitted values of the form's fields, trimmed; ValidationError naming each bad field."""
    errors, values = {}, {}
    for field in form.fields:
        raw = data.get(field["name"], "")
        value = (raw if isinstance(raw, str) else "").strip()
        if len(value) > MAX_FIELD_LENGTH:
            errors[field["name"]] = f"At most {MAX_FIELD_LENGTH} characters."
        elif field["required"] and not value:
            errors[field["name"]] = "This field is required."
        elif value and field["type"] == "email":
            try:
                validate_email(value)
            except ValidationError:
                errors[field["name"]] = "Enter a valid email address."
        values[field["name"]] = value
    if errors:
        raise ValidationError(errors)
    return values


def form_submission_record(
    *, form: Form, submission_id: str, data: dict, visitor_key: str = "", page_url: str = "", at: datetime | None = None
) -> tuple[FormSubmission, bool]:
    """Validate a submission, create or update the contact, link the visitor to it (so all of that visitor's
    sessions, earlier ones included, become the contact's), and store the submission — all or nothing.
    Idempotent on `submission_id`: a resubmitted id returns the stored submission, changing nothing.
    Returns (submission, created)."""
    at = at or timezone.now()
    existing = FormSubmission.all_accounts.filter(form=form, submission_id=submission_id).first()
    if existing is not None:
        return existing, False
    values = submission_validate(form, data)
    try:
        with transaction.atomic():
            submission = _submission_insert(form, submission_id, values, visitor_key, page_url, at)
    except IntegrityError:
        return FormSubmission.all_accounts.get(form=form, submission_id=submission_id), False
    return submission, True


def _submission_insert(
    form: Form, submission_id: str, values: dict[str, str], visitor_key: str, page_url: str, at: datetime
) -> FormSubmission:
    account = form.account
    visitor = None
    if visitor_key:
        # The visitor's accepted page views may still wait for the worker: sessionise them first, so the sessions
        # the contact inherits (and its original source) are all there.
        while pending_hits_process(site=form.site, visitor_key=visitor_key):
            pass
        visitor, _ = Visitor.all_accounts.get_or_create(
            site_id=form.site_id, key=visitor_key, defaults={"account": account, "first_seen_at": at}
        )
    properties = {k: values[k] for k in CONTACT_PROPERTIES if values.get(k)}
    contact = contact_by_email(account, values["email"])
    created = contact is None
    if created:
        first = _first_session(visitor)
        contact = crm_services.contact_create(
            account=account,
            created_at=at,
            original_source=first.source if first else TrafficSource.DIRECT,
            original_source_detail=first.source_detail if first else "",
            **properties,
        )
    else:
        crm_services.contact_update(contact=contact, **{k: v for k, v in properties.items() if k != "email"})
    if visitor is not None and visitor.contact_id != contact.pk:
        visitor_identify(visitor=visitor, contact=contact, at=at)
    return FormSubmission.all_accounts.create(
        account=account,
        form=form,
        contact=contact,
        visitor=visitor,
        submission_id=submission_id,
        submitted_at=at,
        page_url=page_url[:2000],
        created_contact=created,
        data=values,
    )


def _first_session(visitor: Visitor | None) -> WebSession | None:
    if visitor is None:
        return None
    return WebSession.all_accounts.filter(visitor=visitor).order_by("started_at", "pk").first()


def visitor_identify(*, visitor: Visitor, contact: Contact, at: datetime | None = None) -> None:
    """Link a visitor to a contact: its sessions and page views, before and after, are the contact's from now
    on. A visitor identified as someone else before (a shared computer) moves to the new contact."""
    visitor.contact = contact
    visitor.identified_at = at or timezone.now()
    with transaction.atomic():
        visitor.save(update_fields=["contact", "identified_at"])
        visitor_identified.send(sender=Visitor, visitor=visitor)  # rollups that store the contact follow it
