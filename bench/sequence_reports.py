"""The sequence reports over a synthetic history of issue #4's size (`python -m bench --only sequence-reports`).

The history is bulk-loaded, not played through the engine (that would take days at 2 M enrollments): contacts and
enrollments as plain rows (`core.db.rows_insert`, each table's indexes built once after it by `core.db.bulk_load`),
then about five engagement events and two sent messages per
enrollment, each made by one INSERT … SELECT over the enrollments with a deterministic hash deciding which ones
each gets (the same history on SQLite and PostgreSQL, run after run); the messages' opens, clicks, replies and
meetings are set by such a hash too. Bulk inserts bypass the services, so the engagement rollup and
the account-wide totals are then rebuilt set-based, each timed as a row of its own, before the planner statistics
are refreshed and every report is timed warm.
"""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from time import perf_counter as clock

USERS = 8  # enrolling reps
DAYS = 540  # enrollments spread over 18 months
# (event kind, how many enrollments in 100 get one): 4.77 events per enrollment on average.
EVENTS = [("sent", 100), ("sent", 80), ("sent", 50), ("open", 80), ("open", 60), ("open", 40), ("click", 35),
          ("click", 15), ("reply", 12), ("meeting_booked", 5)]
MACHINE_OPENS_IN_10 = 3
TEMPLATES = 10
# (step position, how many enrollments in 100 got that step's email): 1.8 sent messages per enrollment.
MESSAGES = [(1, 100), (2, 60), (3, 20)]
STATUSES = ["finished"] * 10 + ["replied", "meeting_booked", "bounced", "unsubscribed", "unenrolled", "error",
                                "active", "active", "paused"]


def _rows_of(model, values, now):
    """Plain tuples for `core.db.rows_insert`: every concrete column, each value the field's default (prepared
    once) unless `values` (a dict per row, by attribute name) gives it — ready for the database already: ints and
    strings as they are, datetimes through `adapt_datetimefield_value` (preparing each per row costs more than
    the insert)."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {}
    for f in fields:
        default = now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()
        defaults[f.attname] = f.get_db_prep_save(default, connection)
    columns = [f.column for f in fields]

    def rows():
        for given in values:
            yield [given.get(name, default) for name, default in defaults.items()]
    return columns, rows()


def _insert(model, values, now) -> None:
    from touchline.core.db import rows_insert

    columns, rows = _rows_of(model, values, now)
    rows_insert(model._meta.db_table, columns, rows)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _explain(account, cases) -> None:
    """Print the database's plan of every section of each report case (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
    PostgreSQL), to check which index each one reads."""
    from django.db import connection
    from django.db.models import QuerySet
    from django.utils import timezone

    from touchline.reports.pipeline import Sql, report_get

    for key, params in cases:
        report = report_get(key)
        query = report.parse(account, params, now=timezone.now())
        report.prepare(query)
        for name, section in report.build(query).items():
            if isinstance(section, QuerySet):
                sql, values = section.query.sql_with_params()
            elif isinstance(section, Sql):
                sql, values = section.sql, section.params
            else:
                continue
            with connection.cursor() as cursor:
                cursor.execute(("EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ") + sql,
                               list(values))
                plan = [" ".join(str(cell) for cell in row) for row in cursor.fetchall()]
            print(f"-- {key} {params or ''} [{name}]", *plan, sep="\n    ", file=sys.stderr)


def _load(account, *, enrollments: int, contacts: int, sequence_count: int, rows: list) -> tuple[list, list]:
    """Bulk-load the synthetic history; returns the sequences and the enrolling users."""
    from django.db import connection, transaction
    from django.utils import timezone

    from touchline.core.accounts import user_create
    from touchline.core.db import bulk_load
    from touchline.crm.models import Contact
    from touchline.sequences.models import (
        EmailTemplate,
        EngagementEvent,
        Enrollment,
        Inbox,
        SentMessage,
        Sequence,
        Step,
        StepType,
    )

    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    users = [user_create(username=f"bench-rep-{i}", email=f"bench-rep-{i}@northwind.example",
                         password=secrets.token_urlsafe(), account=account, first_name="Rep", last_name=str(i))
             for i in range(USERS)]
    inbox = Inbox.objects.create(account=account, user=users[0], from_name="Bench",
                                 from_email="bench-reports@northwind.example")
    sequences = [Sequence.objects.create(account=account, name=f"Bench reports {i:03d}", owner=users[i % USERS])
                 for i in range(sequence_count)]
    steps = {s.pk: [Step.objects.create(account=account, sequence=s, position=p, step_type=StepType.AUTOMATED_EMAIL)
                    .pk for p in (1, 2, 3)] for s in sequences}

    start = clock()
    first_contact = (Contact.objects.filter(account=account).order_by("-pk").values_list("pk", flat=True)
                     .first() or 0) + 1
    with bulk_load([Contact]), transaction.atomic():
        _insert(Contact, ({"account_id": account.pk, "email": f"bench-report-{i}@example.com", "first_name": "Bench",
                           "last_name": f"Report {i}", "created_at": adapt(now - timedelta(days=DAYS))}
                          for i in range(contacts)), now)
    contact_ids = list(Contact.objects.filter(account=account, pk__gte=first_contact).order_by("pk")
                       .values_list("pk", flat=True))
    rows.append((f"synthetic contacts: {contacts:,}", f"{clock() - start:.0f} s", "one bulk insert"))

    start = clock()

    def enrollment_values():
        # Contact i is enrolled in sequences (7i + 13j) mod n for its j-th enrollment: distinct sequences, so the
        # one-running-enrollment-per-sequence rule holds; dates, statuses, steps and users from the index alone.
        for i in range(enrollments):
            contact = contact_ids[i % contacts]
            lap = i // contacts
            sequence = sequences[(7 * (i % contacts) + 13 * lap) % sequence_count]
            yield {"account_id": account.pk, "sequence_id": sequence.pk, "contact_id": contact,
                   "enrolled_by_id": users[(i * 5 + lap) % USERS].pk, "inbox_id": inbox.pk,
                   "current_step_id": steps[sequence.pk][i % 3], "status": STATUSES[(i * 11 + lap) % len(STATUSES)],
                   "enrolled_at": adapt(now - timedelta(days=DAYS * ((i * 7919) % 10007) / 10007, seconds=i % 86400))}

    with bulk_load([Enrollment]), transaction.atomic():
        _insert(Enrollment, enrollment_values(), now)
    rows.append((f"synthetic enrollments: {enrollments:,} over {sequence_count} sequences", f"{clock() - start:.0f} s",
                 "one bulk insert"))

    start = clock()
    first_enrollment = Enrollment.objects.filter(account=account, contact_id__gte=first_contact).order_by(
        "pk").values_list("pk", flat=True).first()
    kinds = " UNION ALL ".join(f"SELECT {n} AS n, '{kind}' AS kind, {share} AS share"
                               for n, (kind, share) in enumerate(EVENTS))
    events, enrollment_table = EngagementEvent._meta.db_table, Enrollment._meta.db_table
    with bulk_load([EngagementEvent]), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {events} (account_id, kind, occurred_at, contact_id, enrollment_id, sequence_id, "
            f"is_machine, machine_reason, bounce_type, url, user_agent, detail, external_id) "
            f"SELECT e.account_id, k.kind, e.enrolled_at, e.contact_id, e.id, e.sequence_id, "
            f"k.kind = 'open' AND (e.id * 31 + k.n * 17) %% 10 < {MACHINE_OPENS_IN_10}, '', '', '', '', '', '' "
            f"FROM {enrollment_table} e CROSS JOIN ({kinds}) k "
            f"WHERE e.account_id = %s AND e.id >= %s AND (e.id * 7919 + k.n * 104729) %% 100 < k.share",
            [account.pk, first_enrollment])
        n_events = cursor.rowcount
    rows.append((f"synthetic events: {n_events:,}", f"{clock() - start:.0f} s", "one INSERT … SELECT"))

    # Sent messages: step 1's email to every enrollment, steps 2 and 3 to some, each with one of ten templates.
    start = clock()
    templates = [EmailTemplate.objects.create(account=account, name=f"Bench template {i}", subject="Hello",
                                              body="Hi there") for i in range(TEMPLATES)]
    template_of = " UNION ALL ".join(f"SELECT {i} AS t, {template.pk} AS template_id"
                                     for i, template in enumerate(templates))
    positions = " UNION ALL ".join(f"SELECT {position} AS position, {share} AS share" for position, share in MESSAGES)
    with bulk_load([SentMessage]), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {SentMessage._meta.db_table} (account_id, enrollment_id, step_id, template_id, inbox_id, "
            f"message_id, in_reply_to, to_email, subject, status, attempts, claimed_at, sent_at, error, "
            f"human_opens, all_opens, human_clicks, all_clicks, replies_received, meetings_booked) "
            f"SELECT e.account_id, e.id, s.id, t.template_id, e.inbox_id, "
            f"'bench-' || e.id || '-' || p.position || '@northwind.example', '', 'bench@example.com', 'Hello', "
            f"'sent', 1, e.enrolled_at, e.enrolled_at, '', 0, 0, 0, 0, 0, 0 "
            f"FROM {enrollment_table} e CROSS JOIN ({positions}) p "
            f"JOIN {Step._meta.db_table} s ON s.sequence_id = e.sequence_id AND s.position = p.position "
            f"JOIN ({template_of}) t ON t.t = (e.id + p.position) %% {TEMPLATES} "
            f"WHERE e.account_id = %s AND e.id >= %s AND (e.id * 7 + p.position * 13) %% 100 < p.share",
            [account.pk, first_enrollment])
        n_messages = cursor.rowcount
    rows.append((f"synthetic sent messages: {n_messages:,} with {TEMPLATES} templates", f"{clock() - start:.0f} s",
                 "one INSERT … SELECT"))
    return sequences, users


def _messages_engage(account) -> None:
    """Give the synthetic messages opens, clicks, replies and meetings by the same kind of hash (their events are
    not loaded, so the rollup rebuild has zeroed them): email performance then has something to count."""
    from django.db import connection

    from touchline.sequences.models import SentMessage

    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SentMessage._meta.db_table} SET "
            f"all_opens = CASE WHEN id %% 10 < 6 THEN 1 + id %% 3 ELSE 0 END, "
            f"human_opens = CASE WHEN id %% 10 < 4 THEN 1 + id %% 2 ELSE 0 END, "
            f"all_clicks = CASE WHEN id %% 10 < 2 THEN 1 ELSE 0 END, "
            f"human_clicks = CASE WHEN id %% 20 < 3 THEN 1 ELSE 0 END, "
            f"replies_received = CASE WHEN id %% 50 < 4 THEN 1 ELSE 0 END, "
            f"meetings_booked = CASE WHEN id %% 100 < 2 THEN 1 ELSE 0 END WHERE account_id = %s", [account.pk])


def bench_sequence_reports(account, enrollments: int, repeat: int, *, contacts: int = 0, sequence_count: int = 20,
                           explain: bool = False) -> list[tuple[str, str, str]]:
    from django.db import connection
    from django_scopes import scope

    from touchline.reports.pipeline import report_run
    from touchline.reports.views import ANALYZE_REPORTS
    from touchline.sequences.engagement import enrollment_engagement_rebuild
    from touchline.sequences.models import Enrollment
    from touchline.sequences.report_totals import sequence_totals_rebuild, sequence_totals_refresh

    contacts = contacts or max(1, enrollments // 2)
    rows: list[tuple[str, str, str]] = []
    with scope(account=account):
        sequences, users = _load(account, enrollments=enrollments, contacts=contacts, sequence_count=sequence_count,
                                 rows=rows)
        start = clock()
        rebuilt = enrollment_engagement_rebuild(account=account)
        rows.append(("engagement rollup rebuilt from the log (set-based)", f"{clock() - start:.1f} s",
                     f"{rebuilt['enrollments']:,} enrollments, {rebuilt['messages']:,} messages with events"))
        _messages_engage(account)
        start = clock()
        enrolled = sequence_totals_rebuild(account=account)
        rows.append(("account-wide totals and day parts rebuilt", f"{clock() - start:.1f} s",
                     f"{enrolled:,} enrolled contacts"))
        with connection.cursor() as cursor:  # fresh planner statistics after the bulk load
            cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "VACUUM ANALYZE")

        # What a report pays to refresh the totals when enrollments changed since the last refresh.
        changed = list(Enrollment.objects.filter(sequence=sequences[1]).order_by("pk").values_list("pk", flat=True)
                       [:1000])
        Enrollment.objects.filter(pk__in=changed).update(human_opens=1, all_opens=1)
        start = clock()
        refreshed = sequence_totals_refresh(account=account)
        rows.append(("totals refresh after 1,000 enrollments changed", f"{(clock() - start) * 1000:,.0f} ms",
                     f"{refreshed:,} contacts recomputed"))

        one, user = str(sequences[0].pk), str(users[0].pk)
        cases = [("sequence_summary", {}), ("sequence_summary", {"sequence": one}), ("sequence_performance", {}),
                 ("email_performance", {}), ("email_performance", {"sequence": one}),
                 ("enrollment_status_by_step", {"sequence": one}),
                 ("sequence_enrollments_by_month", {}), ("highly_engaged_contacts", {}),
                 ("sequence_sender_score", {}), ("sequence_summary", {"enrolled": "last_90_days"}),
                 ("sequence_summary", {"enrolled_by": user}), ("sequence_performance", {"enrolled": "last_30_days"}),
                 ("sequence_performance", {"enrolled": "last_90_days"}),
                 ("sequence_summary", {"enrolled": "this_year"}),
                 ("email_performance", {"enrolled": "last_90_days"}), ("email_performance", {"enrolled_by": user}),
                 ("highly_engaged_contacts", {"enrolled": "last_90_days"}),
                 ("highly_engaged_contacts", {"sequence": one}),
                 # Long ranges and ranges ending before today (counted from the rows after them, or walked).
                 ("sequence_performance", {"enrolled": "this_year"}), ("sequence_summary", {"enrolled": "last_month"}),
                 ("sequence_summary", {"enrolled": "last_year"}),
                 ("highly_engaged_contacts", {"enrolled": "last_30_days"}),
                 ("highly_engaged_contacts", {"enrolled": "this_year"}),
                 ("highly_engaged_contacts", {"enrolled": "last_year"}),
                 ("highly_engaged_contacts", {"enrolled": "last_year", "machine": "1"}),
                 # One enrolling user: its ranked parts; with a date range or per sequence, its day parts.
                 ("highly_engaged_contacts", {"enrolled_by": user}), ("sequence_performance", {"enrolled_by": user}),
                 ("sequence_summary", {"enrolled_by": user, "enrolled": "last_90_days"}),
                 ("sequence_summary", {"enrolled_by": user, "enrolled": "this_year"}),
                 ("sequence_performance", {"enrolled_by": user, "enrolled": "last_90_days"}),
                 ("highly_engaged_contacts", {"enrolled_by": user, "enrolled": "last_90_days"}),
                 ("highly_engaged_contacts", {"enrolled_by": user, "enrolled": "this_year"}),
                 ("sequence_summary", {"enrolled_by": user, "sequence": one}),
                 # One sequence in a range: its per-sequence day parts.
                 ("sequence_summary", {"sequence": one, "enrolled": "last_90_days"})]
        if explain:
            _explain(account, cases)
        for key, params in cases:
            samples = []
            for _ in range(repeat + 1):  # the first run warms the caches and is not counted
                t0 = clock()
                report_run(key, account=account, data=params, budget_ms=600_000)
                samples.append((clock() - t0) * 1000)
            p50, p95 = _percentiles(samples[1:])
            label = f"report {key}" + "".join(
                f" ({k}={'one' if k in ('sequence', 'enrolled_by') else v})" for k, v in params.items())
            rows.append((label, f"p50 {p50:,.0f} ms", f"p95 {p95:,.0f} ms over {repeat} warm runs"))
        # The Analyze page: its four reports one after another (reports.views.ANALYZE_REPORTS), as it opens,
        # filtered to the last 90 days, to this year, and to one user's enrollments of the last 90 days.
        for data, label in (({}, ""), ({"enrolled": "last_90_days"}, ", enrolled last 90 days"),
                            ({"enrolled": "this_year"}, ", enrolled this year"),
                            ({"enrolled": "last_90_days", "enrolled_by": user}, ", one user, last 90 days")):
            samples = []
            for _ in range(repeat + 1):
                t0 = clock()
                for key in ANALYZE_REPORTS:
                    report_run(key, account=account, data=data, budget_ms=600_000)
                samples.append((clock() - t0) * 1000)
            p50, p95 = _percentiles(samples[1:])
            rows.append((f"Analyze page{label} (summary, sequence performance, email performance, highly engaged)",
                         f"p50 {p50:,.0f} ms", f"p95 {p95:,.0f} ms over {repeat} warm runs"))
    return rows
