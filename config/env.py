"""Every setting Touchline reads from the environment, declared once.

`docs/configuration.md` documents each entry of SETTINGS and a test keeps the two in step
(the Datasette rule: settings declared once, with help text, tested against the docs).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "sqlite:///var/touchline.sqlite3",
            "Database to use: `sqlite:///relative/or/absolute/path` or `postgresql://user:pass@host:port/db`."),
    Setting("SECRET_KEY", "(generated into var/secret_key on first run)",
            "Signs sessions, tracking links and tokens. Required when DEBUG is off and var/ is not writable."),
    Setting("DEBUG", "0", "Set to 1 for development only: detailed error pages and no HTTPS cookie hardening."),
    Setting("ALLOWED_HOSTS", "127.0.0.1,localhost",
            "Comma-separated host names this server answers to."),
    Setting("CSRF_TRUSTED_ORIGINS", "",
            "Comma-separated origins (scheme://host[:port]) allowed to POST forms, when behind a proxy."),
    Setting("TIME_ZONE", "UTC", "Default time zone of new accounts and of the server's logs."),
    Setting("VAR_DIR", "var", "Directory for the SQLite database, the generated secret key and other state."),
    Setting("SECURE_COOKIES", "0", "Set to 1 when served over HTTPS: session and CSRF cookies are sent on HTTPS only."),
    Setting("SQLITE_BUSY_TIMEOUT_MS", "5000", "How long a SQLite writer waits for a lock before failing."),
    Setting("PUBLIC_URL", "http://127.0.0.1:8000",
            "Address people reach this server at; tracking links, unsubscribe and booking pages are built on it."),
    Setting("SMTP_URL", "smtp://127.0.0.1:1025",
            "Default outgoing mail server of inboxes that don't set their own: `smtp://[user:pass@]host:port`, "
            "`smtp+starttls://…` or `smtps://…`. The default is the local sink `touchline serve` runs."),
    Setting("REPORT_TIME_BUDGET_MS", "15000",
            "How long one report may query before it is stopped and shown as timed out (narrow the range)."),
    Setting("TRUSTED_PROXIES", "",
            "Comma-separated addresses or networks (CIDR) of reverse proxies in front of Touchline. Only a request "
            "from one of them has its X-Forwarded-For believed, so rate limits, bot rules and IP anonymisation see "
            "the visitor's address instead of the proxy's."),
    Setting("API_RATE_LIMIT_PER_MINUTE", "600",
            "Requests one API token (or browser session) may make per minute; past it the API answers 429 with "
            "Retry-After. 0 turns the limit off."),
)


def env(name: str, default: str | None = None) -> str:
    declared = {s.name for s in SETTINGS}
    if name not in declared:
        raise KeyError(f"{name} is not a declared setting; add it to config.env.SETTINGS and docs/configuration.md")
    value = os.environ.get(name)
    if value is not None and value != "":
        return value
    if default is not None:
        return default
    return next(s.default for s in SETTINGS if s.name == name)


def env_bool(name: str) -> bool:
    return env(name).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str) -> list[str]:
    return [item.strip() for item in env(name).split(",") if item.strip()]


def var_dir() -> Path:
    path = Path(env("VAR_DIR"))
    return path if path.is_absolute() else BASE_DIR / path


def secret_key() -> str:
    """The SECRET_KEY variable, else a key generated once and kept in var/secret_key (mode 0600)."""
    explicit = os.environ.get("SECRET_KEY")
    if explicit:
        return explicit
    key_file = var_dir() / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # O_EXCL: two processes starting at once must not write two different keys.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
