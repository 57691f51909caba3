"""Measure Touchline's speed on a demo account and print one table. See bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.sequence_reports import bench_sequence_reports


def _setup(workdir: str) -> None:
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ.setdefault("VAR_DIR", workdir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Median wall time in milliseconds over `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def _contacts_file(path: Path, rows: int) -> Path:
    with path.open("w") as handle:
        for i in range(rows):
            handle.write(json.dumps({"type": "contact", "external_id": f"bench-{i}", "email": f"bench{i}@example.com",
                                     "first_name": "Bench", "last_name": f"Contact {i}",
                                     "created_at": "2026-01-01T09:00:00Z"}) + "\n")
    return path


SINK_PROCESS = """
import sys
from pathlib import Path
from touchline.sequences.mailsink import MailSink
MailSink(port=int(sys.argv[1]), directory=Path(sys.argv[2])).start()
print("ready", flush=True)
sys.stdin.read()  # until the bench closes our stdin
"""


def _bench_sending(account, emails: int, workdir: str) -> list[tuple[str, str, str]]:
    """One worker's tick rendering and handing `emails` first-step emails to a local SMTP sink. The sink runs in a
    process of its own, as a mail server would: in the worker's process it would take the worker's CPU and GIL."""
    import subprocess
    from datetime import time as clock

    from django.conf import settings
    from django.utils import timezone
    from django_scopes import scope

    from touchline.crm.models import Contact
    from touchline.sequences.mailsink import free_port
    from touchline.sequences.models import EmailTemplate, Inbox, Sequence, Step, StepType
    from touchline.sequences.sending import sequences_tick
    from touchline.sequences.services import enrollments_create

    port, outbox = free_port(), Path(workdir) / "bench-outbox"
    sink = subprocess.Popen([sys.executable, "-c", SINK_PROCESS, str(port), str(outbox)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert sink.stdout.readline().strip() == "ready"
    settings.SMTP_URL = f"smtp://127.0.0.1:{port}"
    try:
        with scope(account=account):
            user = account.memberships.first().user
            inbox = Inbox.objects.create(account=account, user=user, from_name="Bench Sender",
                                         from_email="bench@northwind.example", daily_limit=10**9,
                                         per_minute_limit=10**9, time_zone="UTC")
            sequence = Sequence.objects.create(account=account, name="Bench", owner=user, business_days_only=False,
                                               send_window_start=clock(0, 0), send_window_end=clock(23, 59, 59))
            template = EmailTemplate.objects.create(
                account=account, name="Bench", subject="Hello {{ contact.first_name | there }}",
                body="Hi {{ contact.first_name | there }},\n\nSee https://northwind.example/a and "
                     "https://northwind.example/b.\n\n{{ sender.first_name }}")
            Step.objects.create(account=account, sequence=sequence, position=1, step_type=StepType.AUTOMATED_EMAIL,
                                template=template)
            contacts = list(Contact.objects.exclude(email="").order_by("id")[:emails])
            now = timezone.now()
        # The demo's own enrollments may have steps due now: run them first, untimed, so the timed tick runs
        # exactly the bench's emails.
        sequences_tick(now=now, limit=10**6)
        with scope(account=account):
            enrolled = len(enrollments_create(sequence=sequence, contacts=contacts, inbox=inbox, enrolled_by=user,
                                              now=now).enrolled)  # the demo's bounced addresses are refused
        ms, result = _timed(lambda: sequences_tick(now=now, limit=enrolled))
    finally:
        sink.stdin.close()
        sink.wait(timeout=30)
    received = len(list(outbox.glob("*.eml")))
    assert result.sent == enrolled == received, (result, received)
    return [("sequence emails rendered + sent to a local SMTP sink (one worker)",
             f"{result.sent / (ms / 1000):,.0f} emails/s", f"{result.sent:,} emails in {ms / 1000:.1f} s")]


WRK_SECONDS = 5
WRK_LUA = """
paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""


def _p99_ms(wrk_output: str) -> float:
    """The 99th percentile latency of wrk --latency's report, in milliseconds."""
    import re

    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", wrk_output)
    return float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]


def _wrk(url: str, paths_file: Path | None, workdir: str, seconds: int = WRK_SECONDS) -> tuple[float, float]:
    """Requests per second wrk gets from `url` (rotating through `paths_file` when given), and the p99 (ms)."""
    import re
    import subprocess

    command = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url]
    env = dict(os.environ)
    if paths_file is not None:
        script = Path(workdir) / "rotate.lua"
        script.write_text(WRK_LUA)
        command[1:1] = ["-s", str(script)]
        env["BENCH_PATHS"] = str(paths_file)
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), _p99_ms(out)


COLLECT_LUA = """
counter = 0
local threads = 0
setup = function(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
  counter = counter + 1
  local body = string.format('{"k":"%s","h":"bench%s-%d-%09d","v":"visitor-%05d","u":"https://bench.test/p%d",'
    .. '"t":"Bench","r":"","w":1440}', os.getenv("BENCH_SITE"), os.getenv("BENCH_ROUND"), tid, counter,
    counter % 5000, counter % 50)
  return wrk.format("POST", "/t/collect", {["Content-Type"] = "text/plain", ["User-Agent"] = os.getenv("BENCH_UA")},
                    body)
end
"""
PERSON_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
                "Safari/537.36")


def _wrk_collect(port: int, site_key: str, workdir: str, round_: str, seconds: int = WRK_SECONDS) -> dict[str, float]:
    """wrk POSTing unique page-view hits for 5,000 visitors (hit ids unique across rounds): requests/s, p99
    latency (ms), requests answered 2xx."""
    import re
    import subprocess

    script = Path(workdir) / "collect.lua"
    script.write_text(COLLECT_LUA)
    env = dict(os.environ, BENCH_SITE=site_key, BENCH_UA=PERSON_AGENT, BENCH_ROUND=str(round_))
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, env=env, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p99": _p99_ms(out),
            "acknowledged": total - int(non_2xx.group(1) if non_2xx else 0)}


HTTP_ROUNDS = 3
HIT_BY_HIT_SAMPLE = 2_000


def _bench_http(workdir: str) -> list[tuple[str, str, str]]:
    """Open-pixel hits and collector page views through granian, beside a bare view doing one insert (through the
    whole middleware stack, and through the collector's slim one): the bare views and the collector alternate for
    HTTP_ROUNDS rounds, so all see the same load from whatever else runs on the machine. Then the worker
    sessionises the collector's hits, timed both ways on the same hits: hit by hit (pageview_record, what the
    worker did before issue #5) on a copy of the first HIT_BY_HIT_SAMPLE, and batched (pending_hits_drain) on all
    of them."""
    import shutil
    import subprocess
    import time as clock

    from django.db import connection
    from django_scopes import scopes_disabled

    from touchline.sequences.mailsink import free_port
    from touchline.sequences.models import EngagementEvent, MessageStatus, SentMessage
    from touchline.sequences.tokens import open_token

    if shutil.which("wrk") is None:
        return [("HTTP hits (needs wrk: make bench installs it)", "skipped", "")]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_hit (id INTEGER PRIMARY KEY, at REAL)")
    with scopes_disabled():
        ids = list(SentMessage.all_accounts.filter(status=MessageStatus.SENT).values_list("pk", flat=True))
        before = EngagementEvent.all_accounts.filter(kind="open").count()
    paths = Path(workdir) / "pixels.txt"
    paths.write_text("".join(f"/t/o/{open_token(pk)}.gif\n" for pk in ids))
    from touchline.tracking.models import PageView, PendingHit
    from touchline.tracking.services import Hit, pageview_record, pending_hits_drain, site_create

    with scopes_disabled():
        account = SentMessage.all_accounts.first().account
        site = site_create(account=account, name="bench", domains="bench.test")
        twin = site_create(account=account, name="bench, hit by hit", domains="bench.test")
    port = free_port()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings")
    server = subprocess.Popen([sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1", "--blocking-threads", "5",
                               "--log-level", "warning", "bench.wsgi:application"], env=env)
    bare, bare_public, collect = [], [], []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                clock.sleep(0.1)
        # Warm up (not counted): the first seconds of a fresh server run at half speed.
        _wrk(f"http://127.0.0.1:{port}/bench/insert", None, workdir, seconds=2)
        _wrk(f"http://127.0.0.1:{port}/bench/insert-public", None, workdir, seconds=2)
        warm_up = _wrk_collect(port, site.key, workdir, "w", seconds=2)
        for round_ in range(HTTP_ROUNDS):
            bare.append(_wrk(f"http://127.0.0.1:{port}/bench/insert", None, workdir))
            bare_public.append(_wrk(f"http://127.0.0.1:{port}/bench/insert-public", None, workdir))
            collect.append(_wrk_collect(port, site.key, workdir, str(round_)))
        pixel, _ = _wrk(f"http://127.0.0.1:{port}", paths, workdir)
    finally:
        server.terminate()
        server.wait(timeout=10)
    from touchline.sequences.tracking import pending_email_hits_drain

    with scopes_disabled():
        queued_opens = pending_email_hits_drain()
        recorded = EngagementEvent.all_accounts.filter(kind="open").count() - before
        stored = PendingHit.all_accounts.filter(site=site).count()
        sample = list(PendingHit.all_accounts.filter(site=site).order_by("occurred_at", "pk")[:HIT_BY_HIT_SAMPLE])
        start = clock.perf_counter()
        for row in sample:
            pageview_record(site=twin, hit=Hit(hit_id=row.hit_id, visitor_key=row.visitor_key, url=row.url,
                                               title=row.title, referrer=row.referrer, screen_width=row.screen_width,
                                               occurred_at=row.occurred_at))
        by_hit_seconds = clock.perf_counter() - start
        start = clock.perf_counter()
        sessionised = pending_hits_drain()
        drain_seconds = clock.perf_counter() - start
        views = PageView.all_accounts.filter(site=site).count()
    acknowledged = warm_up["acknowledged"] + sum(c["acknowledged"] for c in collect)
    # A hit is lost when the collector acknowledged it and it is not stored (stored may exceed acknowledged: wrk
    # drops answers still in flight when its time is up).
    lost = max(0, acknowledged - stored)
    rounds = ", ".join(f"{b:,.0f}/{bp:,.0f}/{c['rps']:,.0f} ({c['rps'] / b:.0%}; p99 {bp99:.0f}/{bpp99:.0f}/"
                       f"{c['p99']:.0f} ms)"
                       for (b, bp99), (bp, bpp99), c in zip(bare, bare_public, collect, strict=True))
    bare_median, bare_p99 = (statistics.median(column) for column in zip(*bare, strict=True))
    bare_public_median, bare_public_p99 = (statistics.median(column) for column in zip(*bare_public, strict=True))
    collect_median, p99 = statistics.median(c["rps"] for c in collect), statistics.median(c["p99"] for c in collect)
    return [(f"bare Django view, one {connection.vendor} insert (granian, wrk 16 connections)",
             f"{bare_median:,.0f} req/s", f"the whole middleware stack; p99 {bare_p99:.1f} ms; median of "
                                          f"{HTTP_ROUNDS} rounds of {WRK_SECONDS} s"),
            ("the same bare view on the collector's slim middleware (touchline/core/wsgi.py)",
             f"{bare_public_median:,.0f} req/s", f"p99 {bare_public_p99:.1f} ms; median of {HTTP_ROUNDS} rounds"),
            ("open pixel hits recorded, same server", f"{pixel:,.0f} req/s",
             f"{pixel / bare_median:.0%} of the bare view; {queued_opens:,} queued, then {recorded:,} opens recorded "
             f"by the worker (at most 20 a minute per message) over {len(ids):,} messages"),
            ("collector page views (validate, cached bot check, rate limits, idempotent insert)",
             f"{collect_median:,.0f} req/s",
             f"{collect_median / bare_median:.0%} of the bare view ({collect_median / bare_public_median:.0%} of it "
             f"on the slim stack); p99 {p99:.1f} ms (median of rounds); "
             f"{acknowledged:,} acknowledged, {stored:,} stored, {lost:,} lost"),
            ("  rounds: bare/bare slim/collector req/s (collector to bare; p99s)", rounds, "alternating, same server"),
            ("worker sessionising hit by hit (pageview_record, before issue #5)",
             f"{len(sample) / by_hit_seconds:,.0f} hits/s",
             f"{len(sample):,} of the same hits in {by_hit_seconds:.1f} s"),
            ("worker sessionising the accepted hits, batched (pending_hits_drain)",
             f"{sessionised / drain_seconds:,.0f} hits/s", f"{sessionised:,} hits in {drain_seconds:.1f} s; "
             f"{views:,} page views for {stored:,} stored hits")]


SECTIONS = ("reports", "import", "api", "sending", "sequence-reports", "http")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", default="medium", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--repeat", type=int, default=5, help="runs per latency figure (median shown)")
    parser.add_argument("--import-rows", type=int, default=20_000)
    parser.add_argument("--emails", type=int, default=2_000, help="emails the sending benchmark sends")
    parser.add_argument("--report-enrollments", type=int, default=100_000,
                        help="synthetic enrollments for the sequence report timings (0 to skip)")
    parser.add_argument("--report-contacts", type=int, default=0,
                        help="synthetic contacts those enrollments go to (default: half as many as enrollments)")
    parser.add_argument("--report-sequences", type=int, default=20, help="synthetic sequences they are spread over")
    parser.add_argument("--explain", action="store_true",
                        help="print the query plan of every sequence report section (to standard error)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run, of {', '.join(SECTIONS)} (default: all); the demo "
                             "account they run on is always built")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := only - set(SECTIONS):
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")

    workdir = tempfile.mkdtemp(prefix="touchline-bench-")
    _setup(workdir)
    from django.db import connection
    from django.test import Client
    from django_scopes import scope

    from touchline.api.tokens import api_token_create
    from touchline.core.demo import demo_create
    from touchline.crm.importing import import_file
    from touchline.reports.pipeline import report_run

    rows: list[tuple[str, str, str]] = []
    ms, demo = _timed(lambda: demo_create(size=args.size, seed=1, replace=True))
    counts = ", ".join(f"{v:,} {k}" for k, v in demo.counts.items())
    rows.append((f"demo build ({args.size})", f"{ms / 1000:.1f} s", counts))
    account = demo.account

    with scope(account=account):
        if "reports" in only:
            for created in ("all_time", "last_90_days"):
                ms, _ = _timed(lambda c=created: report_run("deals_by_stage", account=account, data={"created": c}),
                               args.repeat)
                rows.append((f"report deals_by_stage, created={created}", f"{ms:.1f} ms", f"median of {args.repeat}"))
        if "import" in only:
            source = _contacts_file(Path(workdir) / "contacts.jsonl", args.import_rows)
            ms, report = _timed(lambda: import_file(account=account, path=source))
            rows.append(("import contacts (new)", f"{args.import_rows / (ms / 1000):,.0f} rows/s",
                         f"{args.import_rows:,} rows in {ms / 1000:.1f} s"))
            ms, report = _timed(lambda: import_file(account=account, path=source))
            rows.append(("import contacts (same file again)", f"{args.import_rows / (ms / 1000):,.0f} rows/s",
                         "nothing changes"))
        user = account.memberships.first().user
        _, token = api_token_create(user=user, account=account, name="bench")
    if "api" in only:
        client = Client(headers={"Authorization": f"Bearer {token}"}, HTTP_HOST="127.0.0.1")
        ms, response = _timed(lambda: client.get("/api/v1/contacts", {"limit": 200}), args.repeat)
        assert response.status_code == 200, response.content
        rows.append(("API GET /contacts?limit=200", f"{ms:.1f} ms", f"median of {args.repeat}"))
        ms, response = _timed(lambda: client.get("/api/v1/contacts", {"q": "smith", "limit": 50}), args.repeat)
        rows.append(("API GET /contacts?q=smith", f"{ms:.1f} ms", f"median of {args.repeat}"))
    if "sending" in only:
        rows += _bench_sending(account, args.emails, workdir)
    if "sequence-reports" in only and args.report_enrollments:
        rows += bench_sequence_reports(account, args.report_enrollments, args.repeat,
                                       contacts=args.report_contacts, sequence_count=args.report_sequences,
                                       explain=args.explain)
    if "http" in only:
        rows += _bench_http(workdir)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak memory (this process)", f"{peak_mb:.0f} MB", ""))

    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"Touchline bench — {connection.vendor}, {os.cpu_count()} cores, load {load} at the end, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    widths = [max(len(r[i]) for r in rows + [("measure", "result", "notes")]) for i in range(3)]
    for row in [("measure", "result", "notes"), tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
