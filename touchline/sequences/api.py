"""Sequence endpoints of the JSON API: inbound mail for mail servers and scripts that cannot pipe to
`touchline inbound` (POST the raw message with a bearer token of the account)."""

from django.core.exceptions import RequestDataTooBig
from ninja import Router, Schema

from touchline.api.errors import ApiError
from touchline.sequences.inbound import MAX_BYTES, InboundError, inbound_process

router = Router(tags=["Sequences"])


class InboundOut(Schema):
    classification: str
    enrollment_ids: list[int]
    detail: str


@router.post("/inbound", response=InboundOut, summary="Process one raw inbound email",
             description="The body is the raw message (`message/rfc822`), at most 10 MB. It is matched in the "
                         "token's account: a reply, an auto-reply or a bounce ends or annotates enrollments.")
def inbound(request):
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
    return {"classification": result.classification, "enrollment_ids": result.enrollment_ids,
            "detail": result.detail}
