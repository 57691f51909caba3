"""The `touchline` command: Django's manage.py with Touchline's own verbs first in the help.

Verbs are ordinary management commands (serve, worker, demo, createuser, import, report) so that
`python manage.py serve` and `touchline serve` are the same thing.
"""

from __future__ import annotations

import os
import sys

TOUCHLINE_VERBS = {
    "serve": "migrate, load demo data into an empty database, serve the UI with a background worker",
    "worker": "run the background task worker",
    "demo": "create a deterministic demo account (--size small|medium|large --seed N)",
    "createuser": "create a user and give them an account",
    "import": "import companies, contacts and deals from JSON Lines or CSV",
    "report": "list reports or run one (--list, NAME --json)",
    "inbound": "process one raw email (replies, bounces, auto-replies) from a file or stdin",
    "imap_poll": "process the unseen mail of IMAP inboxes (--once)",
    "attribution": "copy interactions and credit conversions (refresh | rebuild)",
    "engagement_rebuild": "recompute the sequence engagement rollup from the event log (--account)",
    "campaign_rebuild": "recompute the campaign reports' rollups from the page views (--account)",
}


def _usage() -> str:
    lines = ["usage: touchline VERB [options]", "", "Touchline verbs:"]
    width = max(map(len, TOUCHLINE_VERBS))
    lines += [f"  {verb:<{width}}  {text}" for verb, text in TOUCHLINE_VERBS.items()]
    lines += ["", "Every Django management command works too (migrate, shell, dbshell, ...);",
              "`touchline help` lists them, `touchline VERB --help` explains one."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(argv) < 2 or argv[1] in {"-h", "--help"}:
        print(_usage())
        sys.exit(0 if len(argv) >= 2 else 2)

    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        execute_from_command_line(argv)
    except OperationalError as exc:
        # A DATABASE_URL that cannot connect is a configuration problem, not a crash: say so plainly.
        print(f"touchline: cannot use the database: {exc}".rstrip(), file=sys.stderr)
        print("touchline: check DATABASE_URL (see docs/configuration.md)", file=sys.stderr)
        sys.exit(1)
