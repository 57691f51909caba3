"""POST /api/v1/import: the `touchline import` of a script — the same file formats and the same import code
(`touchline.crm.importing.import_text`), into the token's (or session's) account.

The body is the file itself: JSON Lines (`Content-Type: application/x-ndjson` or `application/jsonl`) or CSV
(`text/csv`, with a `type` column or `?type=`), at most MAX_BYTES. `?dry_run=true` checks every row and answers
the same report, writing nothing. The answer is the import report: counts per row type, and each rejected row
with its line number, field and reason; rows are rejected one by one as on the command line, so a report with
rejections still answers 200 (the other rows were imported). A file that cannot be imported at all answers 422
and nothing is written; a larger body answers 413.

(Not `touchline/api/importing.py`: every app's `importing` module is autodiscovered as a source of row types.)
"""

from __future__ import annotations

from typing import Literal

from django.core.exceptions import RequestDataTooBig
from ninja import Field, Query, Router, Schema

from touchline.api.errors import ApiError
from touchline.crm.importing import (
    CREATED,
    REJECTED,
    ROW_TYPES,
    UNCHANGED,
    UPDATED,
    ImportFileError,
    decode_text,
    import_text,
)

router = Router(tags=["Import"])

MAX_BYTES = 5 * 1024 * 1024  # docs/import.md; larger files go through `touchline import` or in parts
CONTENT_TYPES = {"application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "text/csv": "csv"}


class TypeCounts(Schema):
    created: int
    updated: int
    unchanged: int
    rejected: int


class RejectedRow(Schema):
    line: int  # the physical line where the row starts, counting from 1 (a CSV header is line 1)
    type: str
    field: str  # empty when the reason is not about one field
    message: str


class ImportOut(Schema):
    dry_run: bool
    ok: bool  # no row was rejected
    counts: dict[str, TypeCounts]
    rejected: list[RejectedRow]


# Every row type of `touchline import`, CRM's and the other apps' (registered when importing is imported).
RowTypeName = Literal[tuple(ROW_TYPES)]


class ImportParams(Schema):
    type: RowTypeName | None = Field(None, description="What every row of a CSV body is, when it has no `type` "
                                                         "column (as `--type`)")
    dry_run: bool = Field(False, description="Check every row and answer the report, writing nothing")


@router.post(
    "/import", response=ImportOut, summary="Import companies, contacts, deals and history (JSON Lines or CSV)",
    description="The body is a file in the format of `touchline import` (docs/import.md): JSON Lines "
                "(`Content-Type: application/x-ndjson` or `application/jsonl`) or CSV (`text/csv`; a `type` column, "
                f"or `?type=`), at most {MAX_BYTES // (1024 * 1024)} MB. Rows are matched to what is already there, "
                "so importing the same file again changes nothing. `?dry_run=true` checks every row and writes "
                "nothing. Rejected rows are reported with their line and reason and the other rows are imported "
                "(200, `ok: false`); a file that cannot be imported at all answers 422 and writes nothing.",
    openapi_extra={"requestBody": {"required": True, "content": {
        t: {"schema": {"type": "string"}} for t in CONTENT_TYPES}}})
def import_rows(request, params: Query[ImportParams]):
    fmt = CONTENT_TYPES.get(request.content_type or "")
    if fmt is None:
        raise ApiError(415, "unsupported_media_type", "Send the file as the body with Content-Type: "
                       f"{', '.join(CONTENT_TYPES)} (got {request.content_type or 'none'}).")
    text = decode_body(request)
    try:
        report = import_text(account=request.account, text=text, fmt=fmt, forced_type=params.type,
                             dry_run=params.dry_run)
    except ImportFileError as error:
        raise ApiError(422, "invalid", f"{error} (nothing was imported).", {"body": str(error)}) from None
    return {"dry_run": report.dry_run, "ok": report.ok,
            "counts": {name: {k: counts[k] for k in (CREATED, UPDATED, UNCHANGED, REJECTED)}
                       for name, counts in sorted(report.counts.items())},
            "rejected": [{"line": r.line, "type": r.type, "field": r.field, "message": r.message}
                         for r in report.rejections]}


def decode_body(request) -> str:
    too_large = ApiError(413, "too_large", f"An import may be at most {MAX_BYTES // (1024 * 1024)} MB; split the "
                         "file, or import it with `touchline import`.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BYTES:  # refused before reading it
        raise too_large
    try:
        raw = request.body
    except RequestDataTooBig:  # Django stops reading past DATA_UPLOAD_MAX_MEMORY_SIZE
        raise too_large from None
    if len(raw) > MAX_BYTES:
        raise too_large
    try:
        return decode_text(raw, "the body")
    except ImportFileError as error:
        raise ApiError(422, "invalid", f"{error} (nothing was imported).", {"body": str(error)}) from None
