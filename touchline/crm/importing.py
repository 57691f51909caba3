"""Import of companies, contacts and deals from JSON Lines or CSV; see docs/import.md for the format.

How a file is applied:
1. The whole file is read and parsed first. A file-level problem (unreadable, not UTF-8, CSV without a type,
   unknown CSV columns) raises ImportFileError before anything is written.
2. Rows are applied by type in dependency order — companies, then contacts, then deals — each type in file
   order, so a contact may reference a company that appears later in the file.
3. Each row is written in its own savepoint: a rejected row leaves nothing behind and never stops the others.
   Rows are committed in batches, so what was accepted stays even if the process dies later.
4. A row is matched to an existing record by its key (external_id; for contacts without one, the email; for
   companies without one, the domain). A matched row whose fields are all equal is "unchanged"; otherwise
   it is updated through the CRM services. Re-importing a file therefore changes nothing.

A new row type (sequences, events, campaigns) is one `RowType` registered in ROW_TYPES.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DataError, transaction
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import autodiscover_modules

from touchline.core.models import Account
from touchline.crm import selectors, services
from touchline.crm.models import (
    Company,
    Contact,
    Deal,
    DealStage,
    LifecycleStage,
    Pipeline,
    normalise_domain,
    normalise_email,
)

BATCH_ROWS = 500
CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"


class ImportFileError(Exception):
    """The file as a whole cannot be imported; nothing was written."""


class RowError(Exception):
    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rejection:
    line: int
    type: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"line {self.line} ({self.type or 'unknown type'}):{where} {self.message}"


@dataclass
class ImportReport:
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    rejections: list[Rejection] = field(default_factory=list)
    dry_run: bool = False

    def reject(self, line: int, type_: str, message: str, field_: str = "") -> None:
        self.counts[type_ or "unknown"][REJECTED] += 1
        self.rejections.append(Rejection(line, type_, field_, message))

    @property
    def ok(self) -> bool:
        return not self.rejections


# Field parsing ---------------------------------------------------------------------------------------------------


def _text(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise RowError("must be text", key)
    return str(value).strip()


def _datetime(row: dict, key: str) -> datetime | None:
    text = _text(row, key)
    if not text:
        return None
    value = parse_datetime(text)
    if value is None:
        raise RowError(f"{text!r} is not an ISO 8601 date-time (e.g. 2025-03-01T09:30:00Z)", key)
    if value.tzinfo is None:
        raise RowError(f"{text!r} has no time zone offset (add Z or +01:00)", key)
    return value


def _list(row: dict, key: str) -> list[str]:
    value = row.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    raise RowError("must be a list (JSON) or ';'-separated text (CSV)", key)


class _Lookups:
    """Per-import caches of the account's users, companies, pipelines: one query each, not one per row."""

    def __init__(self, account: Account):
        self.account = account
        self.users = {u.email.lower(): u for u in get_user_model().objects.filter(memberships__account=account)
                      if u.email}
        self.pipelines = {p.name.lower(): p for p in Pipeline.objects.filter(account=account)}
        self.stages = {(s.pipeline_id, s.name.lower()): s for s in DealStage.objects.filter(account=account)}
        # Existing records matched by their import key, loaded per batch in one query (see `preload`), and
        # records created earlier in this import, so a key repeated in the file finds its first row's record.
        self.known: dict[tuple[str, str, str], Company | Contact] = {}

    def preload(self, rows: list[ParsedRow]) -> None:
        """Load the companies and contacts that `rows` may match, two queries per type instead of one per row."""
        for model, type_name, keys in ((Company, "company", ("external_id", "domain")),
                                       (Contact, "contact", ("external_id", "email"))):
            for key in keys:
                normalise = {"domain": normalise_domain, "email": normalise_email}.get(key, str.strip)
                wanted = {normalise(str(r.data.get(key) or "")) for r in rows if r.type == type_name} - {""}
                if not wanted:
                    continue
                found = model.objects.filter(account=self.account, **{f"{key}__in": wanted}).order_by("-id")
                if key != "external_id":
                    found = found.filter(external_id="")
                self.known |= {(type_name, key, getattr(obj, key)): obj for obj in found}

    def existing(self, type_name: str, key: str, value: str):
        return self.known.get((type_name, key, value))

    def remember(self, type_name: str, obj, keys: tuple[str, ...]) -> None:
        for key in keys:
            if value := getattr(obj, key):
                self.known.setdefault((type_name, key, value), obj)

    def owner(self, row: dict):
        email = _text(row, "owner_email").lower()
        if not email:
            return None
        if email not in self.users:
            raise RowError(f"no user with the email {email} in this account", "owner_email")
        return self.users[email]

    def company(self, row: dict) -> Company | None:
        ref, domain = _text(row, "company_external_id"), normalise_domain(_text(row, "company_domain"))
        if ref:
            found = Company.objects.filter(account=self.account, external_id=ref).first()
            if found is None:
                raise RowError(f"no company with external_id {ref!r}", "company_external_id")
            return found
        if domain:
            found = Company.objects.filter(account=self.account, domain=domain).order_by("id").first()
            if found is None:
                raise RowError(f"no company with the domain {domain}", "company_domain")
            return found
        return None

    def stage(self, row: dict) -> DealStage:
        name = _text(row, "pipeline")
        if name:
            pipeline = self.pipelines.get(name.lower())
            if pipeline is None:
                raise RowError(f"no pipeline named {name!r}", "pipeline")
        else:
            pipeline = services.pipeline_default(account=self.account)
            self.pipelines.setdefault(pipeline.name.lower(), pipeline)
            if not any(key[0] == pipeline.pk for key in self.stages):
                self.stages |= {(s.pipeline_id, s.name.lower()): s for s in pipeline.stages.all()}
        stage_name = _text(row, "stage")
        if not stage_name:
            return min((s for (pid, _), s in self.stages.items() if pid == pipeline.pk), key=lambda s: s.position)
        stage = self.stages.get((pipeline.pk, stage_name.lower()))
        if stage is None:
            raise RowError(f"no stage named {stage_name!r} in the pipeline {pipeline.name!r}", "stage")
        return stage


# Row types -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowType:
    name: str
    fields: frozenset[str]
    apply: Callable[[dict, _Lookups], str]
    # Rows of a type are applied in file order unless the type needs another (page views: by time, since each
    # one continues or starts its visitor's session). Returns a sortable key of a row's data.
    order: Callable[[dict], object] | None = None


def _differs(obj, values: dict) -> bool:
    return any(getattr(obj, key) != value for key, value in values.items())


# Which row fields feed which model field: an update sets only the model fields whose row fields are present,
# so a file with fewer columns never blanks what it does not mention.
SOURCE_FIELDS = {"owner": ("owner_email",), "company": ("company_external_id", "company_domain")}


def _given(row: dict, values: dict) -> dict:
    return {key: value for key, value in values.items()
            if any(f in row for f in SOURCE_FIELDS.get(key, (key,)))}


def _apply_company(row: dict, lookups: _Lookups) -> str:
    account = lookups.account
    external_id, domain = _text(row, "external_id"), normalise_domain(_text(row, "domain"))
    values = {"name": _text(row, "name"), "domain": domain, "industry": _text(row, "industry"),
              "owner": lookups.owner(row)}
    if (created_at := _datetime(row, "created_at")) is not None:
        values["created_at"] = created_at
    if external_id:
        existing = lookups.existing("company", "external_id", external_id)
    else:
        if not domain:
            raise RowError("a company needs an external_id or a domain to be imported idempotently", "external_id")
        existing = lookups.existing("company", "domain", domain)
    if existing is None:
        company = services.company_create(account=account, external_id=external_id, **values)
        lookups.remember("company", company, ("external_id",) if external_id else ("domain",))
        return CREATED
    values = _given(row, values)
    if not _differs(existing, values):
        return UNCHANGED
    services.company_update(company=existing, **values)
    return UPDATED


def _apply_contact(row: dict, lookups: _Lookups) -> str:
    account = lookups.account
    external_id, email = _text(row, "external_id"), normalise_email(_text(row, "email"))
    values = {"email": email, "first_name": _text(row, "first_name"), "last_name": _text(row, "last_name"),
              "job_title": _text(row, "job_title"), "phone": _text(row, "phone"), "owner": lookups.owner(row),
              "company": lookups.company(row),
              "lifecycle_stage": _text(row, "lifecycle_stage") or LifecycleStage.LEAD}
    if source := _text(row, "original_source"):
        values["original_source"] = source
    if (created_at := _datetime(row, "created_at")) is not None:
        values["created_at"] = created_at
    if external_id:
        existing = lookups.existing("contact", "external_id", external_id)
    elif email:
        existing = lookups.existing("contact", "email", email)
    else:
        raise RowError("a contact needs an external_id or an email to be imported idempotently", "external_id")
    # A row without the column leaves the contact's other addresses as they are.
    other_emails = sorted({normalise_email(e) for e in _list(row, "other_emails")}) if "other_emails" in row else None
    if existing is None:
        contact = services.contact_create(account=account, external_id=external_id, other_emails=other_emails,
                                          **values)
        lookups.remember("contact", contact, ("external_id",) if external_id else ("email",))
        return CREATED
    values = _given(row, values)
    others_differ = other_emails is not None and (
        set(other_emails) - {values.get("email", existing.email)} != set(selectors.contact_other_emails(existing)))
    if not (_differs(existing, values) or others_differ):
        return UNCHANGED
    services.contact_update(contact=existing, other_emails=other_emails, **values)
    return UPDATED


def _deal_contacts(row: dict, account: Account) -> list[Contact]:
    refs = _list(row, "contact_external_ids")
    emails = [normalise_email(e) for e in _list(row, "contact_emails")]
    by_ref = {c.external_id: c for c in Contact.objects.filter(account=account, external_id__in=refs)}
    by_email = {c.email: c for c in Contact.objects.filter(account=account, email__in=emails)}
    if missing := [r for r in refs if r not in by_ref]:
        raise RowError(f"no contact with external_id {', '.join(missing)}", "contact_external_ids")
    if missing := [e for e in emails if e not in by_email]:
        raise RowError(f"no contact with the email {', '.join(missing)}", "contact_emails")
    return list({c.pk: c for c in [*by_ref.values(), *by_email.values()]}.values())


def _apply_deal(row: dict, lookups: _Lookups) -> str:
    account = lookups.account
    external_id = _text(row, "external_id")
    if not external_id:
        raise RowError("a deal needs an external_id to be imported idempotently", "external_id")
    amount_text = _text(row, "amount")
    values = {"name": _text(row, "name"), "amount": Decimal(amount_text) if _is_number(amount_text) else amount_text,
              "currency": (_text(row, "currency") or "USD").upper(), "owner": lookups.owner(row),
              "company": lookups.company(row)}
    if (created_at := _datetime(row, "created_at")) is not None:
        values["created_at"] = created_at
    stage, closed_at, contacts = lookups.stage(row), _datetime(row, "closed_at"), _deal_contacts(row, account)
    existing = Deal.objects.filter(account=account, external_id=external_id).first()
    if existing is None:
        services.deal_create(account=account, external_id=external_id, stage=stage, closed_at=closed_at,
                             contacts=contacts, **values)
        return CREATED
    values = _given(row, values)
    stage = stage if "stage" in row or "pipeline" in row else existing.stage
    contacts = contacts if "contact_external_ids" in row or "contact_emails" in row else None
    same_contacts = contacts is None or {c.pk for c in contacts} == set(
        existing.contact_links.values_list("contact_id", flat=True))
    same_close = closed_at is None or existing.closed_at == closed_at
    if not _differs(existing, values) and existing.stage_id == stage.pk and same_close and same_contacts:
        return UNCHANGED
    services.deal_update(deal=existing, stage=stage, closed_at=closed_at, contacts=contacts, **values)
    return UPDATED


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return bool(text)


ROW_TYPES: dict[str, RowType] = {
    "company": RowType("company", frozenset({"external_id", "name", "domain", "industry", "owner_email",
                                             "created_at"}), _apply_company),
    "contact": RowType("contact", frozenset({"external_id", "email", "first_name", "last_name", "job_title", "phone",
                                             "company_external_id", "company_domain", "lifecycle_stage",
                                             "original_source", "owner_email", "created_at", "other_emails"}),
                          _apply_contact),
    "deal": RowType("deal", frozenset({"external_id", "name", "amount", "currency", "pipeline", "stage",
                                       "company_external_id", "company_domain", "contact_external_ids",
                                       "contact_emails", "owner_email", "created_at", "closed_at"}), _apply_deal),
}


# Reading files ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedRow:
    line: int
    type: str
    data: dict


FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}  # file suffix → format


def decode_text(data: bytes, name: str) -> str:
    """`data` as UTF-8 text (a byte-order mark is dropped); ImportFileError naming `name` if it is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(f"{name} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImportFileError(f"cannot read {path}: {error.strerror or error}") from None
    return decode_text(data, str(path))


def _jsonl_rows(text: str, report: ImportReport) -> Iterator[ParsedRow]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            report.reject(number, "", f"not valid JSON: {error.msg} at column {error.colno}")
            continue
        if not isinstance(data, dict):
            report.reject(number, "", "each line must be a JSON object")
            continue
        yield ParsedRow(number, str(data.pop("type", "")).strip().lower(), data)


def _csv_rows(text: str, forced_type: str | None, report: ImportReport) -> Iterator[ParsedRow]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ImportFileError("the CSV file has no header row")
    reader.fieldnames = header
    if forced_type is None and "type" not in header:
        raise ImportFileError("say what the CSV rows are: a 'type' column, or one type for the whole file "
                              "(--type, or ?type= in the API)")
    if forced_type is not None:
        unknown = set(header) - ROW_TYPES[forced_type].fields - {"type"}
        if unknown:
            raise ImportFileError(f"unknown column(s) for {forced_type}: {', '.join(sorted(unknown))}")
    previous_line = 1
    for data in reader:
        line = previous_line + 1  # the physical line where this record starts (quoted fields may span lines)
        previous_line = reader.line_num
        if None in data:
            report.reject(line, forced_type or "", "more values than header columns")
            continue
        data = {k: v for k, v in data.items() if v is not None and v != ""}
        row_type = forced_type or str(data.pop("type", "")).strip().lower()
        data.pop("type", None)
        yield ParsedRow(line, row_type, data)


def _check_type(forced_type: str | None) -> None:
    if forced_type is not None and forced_type not in ROW_TYPES:
        raise ImportFileError(f"unknown type {forced_type!r}; choose one of {', '.join(ROW_TYPES)}")


def parse_text(text: str, *, fmt: str, forced_type: str | None, report: ImportReport) -> list[ParsedRow]:
    """The rows of `text` in `fmt` ("jsonl" or "csv"); row-level problems go to `report`."""
    _check_type(forced_type)
    if fmt == "jsonl":
        return list(_jsonl_rows(text, report))
    if fmt == "csv":
        return list(_csv_rows(text, forced_type, report))
    raise ValueError(f"unknown import format {fmt!r}")


def parse_file(path: Path, *, forced_type: str | None, report: ImportReport) -> list[ParsedRow]:
    _check_type(forced_type)
    text = _read_text(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImportFileError(f"{path.name}: use a .jsonl (JSON Lines) or .csv file")
    return parse_text(text, fmt=fmt, forced_type=forced_type, report=report)


# Applying --------------------------------------------------------------------------------------------------------


def import_file(*, account: Account, path: Path, forced_type: str | None = None, dry_run: bool = False,
                progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import a file into `account` (inside an active account scope). See the module docstring."""
    report = ImportReport(dry_run=dry_run)
    rows = parse_file(Path(path), forced_type=forced_type, report=report)
    return _import_rows(account=account, rows=rows, report=report, dry_run=dry_run, progress=progress)


def import_text(*, account: Account, text: str, fmt: str, forced_type: str | None = None,
                dry_run: bool = False) -> ImportReport:
    """Import `text` in `fmt` ("jsonl" or "csv") as `import_file` imports a file: the API's entry point."""
    report = ImportReport(dry_run=dry_run)
    rows = parse_text(text, fmt=fmt, forced_type=forced_type, report=report)
    return _import_rows(account=account, rows=rows, report=report, dry_run=dry_run, progress=None)


def _import_rows(*, account: Account, rows: list[ParsedRow], report: ImportReport, dry_run: bool,
                 progress: Callable[[int], None] | None) -> ImportReport:
    by_type: dict[str, list[ParsedRow]] = defaultdict(list)
    for row in rows:
        if row.type not in ROW_TYPES:
            report.reject(row.line, row.type, f"unknown type {row.type!r}; use one of {', '.join(ROW_TYPES)}", "type")
        else:
            by_type[row.type].append(row)
    ordered = [row for name, row_type in ROW_TYPES.items()
               for row in (sorted(by_type[name], key=lambda r, t=row_type: t.order(r.data)) if row_type.order
                           else by_type[name])]

    def apply_all() -> None:
        lookups = _Lookups(account)
        for start in range(0, len(ordered), BATCH_ROWS):
            batch = ordered[start:start + BATCH_ROWS]
            with transaction.atomic():
                lookups.preload(batch)
                for row in batch:
                    _apply_row(row, lookups, report)
            if progress:
                progress(min(start + BATCH_ROWS, len(ordered)))

    if dry_run:
        with transaction.atomic():
            apply_all()
            transaction.set_rollback(True)
    else:
        apply_all()
    report.rejections.sort(key=lambda r: r.line)
    return report


def _apply_row(row: ParsedRow, lookups: _Lookups, report: ImportReport) -> None:
    row_type = ROW_TYPES[row.type]
    unknown = set(row.data) - row_type.fields
    if unknown:
        report.reject(row.line, row.type, f"unknown field(s): {', '.join(sorted(unknown))}")
        return
    try:
        with transaction.atomic():
            outcome = row_type.apply(row.data, lookups)
    except RowError as error:
        report.reject(row.line, row.type, str(error), error.field)
    except ValidationError as error:
        details = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
        for field_name, messages in details.items():
            report.reject(row.line, row.type, " ".join(messages), field_name)
    except DataError as error:  # a value its column cannot hold that no service checked (PostgreSQL: too long)
        report.reject(row.line, row.type, f"a value does not fit its field: {str(error).strip()}")
    else:
        report.counts[row.type][outcome] += 1


# Other apps add their row types (sequences, events, campaigns) from their own `importing` modules, after the
# CRM's: ROW_TYPES's order is the order rows are applied in.
autodiscover_modules("importing")
