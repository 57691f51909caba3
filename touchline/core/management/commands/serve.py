"""`touchline serve`: migrate, collect static files, create the demo when the database is empty, then serve
the app with granian and run the background task worker in a thread of this process (unless --no-worker)."""

from __future__ import annotations

import os
import socket
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django_scopes import scopes_disabled
from django_tasks_db.management.commands.db_worker import Worker

from touchline.core.demo import SIZES, database_is_empty, demo_account, demo_create
from touchline.core.periodic import Ticker


def start_worker_thread() -> tuple[Worker, threading.Thread]:
    """The django-tasks-db worker, polling once a second, in a daemon thread of this process, with the
    ticker that enqueues periodic work."""
    Ticker().start()
    worker = Worker(queue_names=["*"], interval=1.0, batch=False, backend_name="default", startup_delay=False,
                    max_tasks=None, worker_id=f"serve-{socket.gethostname()}-{os.getpid()}"[:64],
                    excluded_queue_names=[])
    thread = threading.Thread(target=worker.run, name="touchline-worker", daemon=True)
    thread.start()
    return worker, thread


class Command(BaseCommand):
    help = "Migrate, load demo data into an empty database, and serve Touchline with a background worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1, help="HTTP worker processes (default 1)")
        parser.add_argument("--threads", type=int, default=2 * (os.cpu_count() or 1) + 1,
                            help="request threads per worker process (default: 2 × cores + 1); each holds a "
                                 "database connection")
        parser.add_argument("--no-worker", action="store_true", help="don't run the background task worker here")
        parser.add_argument("--demo-size", choices=list(SIZES), default="small",
                            help="size of the demo created in an empty database (default small)")
        parser.add_argument("--no-demo", action="store_true", help="never create demo data")
        parser.add_argument("--no-mailsink", action="store_true",
                            help="don't run the local SMTP sink even when SMTP_URL points at it")

    def handle(self, *args, host, port, workers, threads, no_worker, demo_size, no_demo, no_mailsink,
               **options):
        from granian import Granian
        from granian.constants import Interfaces

        self.stdout.write("Preparing the database…")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        login = self._demo_login(demo_size, no_demo)

        sink = None if no_mailsink else self._start_mailsink()
        worker = thread = None
        if not no_worker:
            worker, thread = start_worker_thread()
        url = f"http://{host}:{port}"
        self.stdout.write(f"Touchline is serving on {url}" + (f" — log in as {login}" if login else ""))
        self.stdout.flush()
        try:
            Granian(target="config.wsgi:application", address=host, port=port, interface=Interfaces.WSGI,
                    workers=workers, blocking_threads=threads, backpressure=threads, log_access=settings.DEBUG,
                    env_files=None).serve()
        finally:
            if worker is not None:
                worker.running = False
                thread.join(timeout=10)
            if sink is not None:
                sink.stop()

    def _start_mailsink(self):
        """With the default SMTP_URL (a sink on this machine), run that sink: sequence emails land in
        var/mailsink/ as .eml files instead of going nowhere."""
        from urllib.parse import urlsplit

        from touchline.sequences.mailsink import MailSink

        url = urlsplit(settings.SMTP_URL)
        if url.scheme != "smtp" or url.hostname not in {"127.0.0.1", "localhost"} or url.username:
            return None
        try:
            sink = MailSink(host="127.0.0.1", port=url.port or 25, directory=settings.VAR_DIR / "mailsink").start()
        except (OSError, RuntimeError) as error:
            self.stderr.write(f"Local mail sink not started ({error}); is another one running on {url.port}?")
            return None
        self.stdout.write(f"Sequence emails go to the local mail sink: {settings.VAR_DIR / 'mailsink'}")
        return sink

    def _demo_login(self, size: str, no_demo: bool) -> str | None:
        with scopes_disabled():
            if database_is_empty() and not no_demo:
                self.stdout.write(f"Empty database: creating the {size} demo account (about half a minute: its "
                                  "sequences run through the real engine)…")
                result = demo_create(size=size, seed=1)
                return f"{result.username} / {result.password}"
            if demo_account() is not None:
                from touchline.core.demo import DEMO_PASSWORD, DEMO_USERNAME
                return f"{DEMO_USERNAME} / {DEMO_PASSWORD}"
        return None
