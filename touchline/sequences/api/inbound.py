"""Inbound mail for mail servers and scripts that cannot pipe to `touchline inbound` — POST the raw message
with a bearer token of the account (docs/inbound.md)."""

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from ninja import Schema

from touchline.api.errors import ApiError
from touchline.sequences.api.common import router
from touchline.sequences.inbound import MAX_BYTES, InboundError, inbound_process

INBOUND_CONTENT_TYPES = ("message/rfc822", "application/octet-stream")


class InboundOut(Schema):
    classification: str  # reply, auto_reply, bounce, complaint, unmatched or duplicate
    enrollment_ids: list[int]
    detail: str


@router.post(
    "/inbound", response=InboundOut, summary="Process one raw inbound email", tags=["Inbound mail"],
    description="The body is the raw message (`Content-Type: message/rfc822` or `application/octet-stream`), at "
                "most 10 MB. It is matched in the token's account: a reply ends the contact's enrollments, an "
                "auto-reply is recorded, a bounce or complaint ends them and suppresses the address. Posting the "
                "same message again answers `duplicate` and changes nothing.",
    openapi_extra={"requestBody": {"required": True, "content": {
        t: {"schema": {"type": "string", "format": "binary"}} for t in INBOUND_CONTENT_TYPES}}})
def inbound(request):
    content_type = request.content_type or ""
    if content_type not in INBOUND_CONTENT_TYPES:
        raise ApiError(415, "unsupported_media_type", "Send the raw email as the body with Content-Type: "
                       f"message/rfc822 (got {content_type or 'none'}).")
    try:
        raw = request.body
    except RequestDataTooBig:  # Django stops reading past DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = None
    if raw is None or len(raw) > MAX_BYTES:
        raise ApiError(413, "too_large", f"A message may be at most {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        result = inbound_process(raw, account=request.account)
    except InboundError as error:
        raise ApiError(422, "invalid", f"Not an email: {error}.", {"body": str(error)}) from None
    except OperationalError:  # the database is away or locked: the sender should retry, as an MTA would
        raise ApiError(503, "unavailable", "The message could not be stored just now; retry later.") from None
    return {"classification": result.classification, "enrollment_ids": result.enrollment_ids,
            "detail": result.detail}
