"""Inboxes and email templates, read-only: what a script looks up before it enrolls contacts (an `inbox_id`)
or builds steps. SMTP credentials of an inbox are never part of an answer."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from touchline.api.pagination import DEFAULT_LIMIT, paginate
from touchline.sequences import selectors
from touchline.sequences.api.common import Page, router

TAGS = ["Inboxes and templates"]


class InboxOut(Schema):
    id: int
    from_name: str
    from_email: str
    reply_to: str
    user_email: str
    time_zone: str
    daily_limit: int
    per_minute_limit: int
    created_at: datetime

    @staticmethod
    def resolve_user_email(obj) -> str:
        return obj.user.email


class InboxPage(Page):
    items: list[InboxOut]


class TemplateOut(Schema):
    id: int
    name: str
    subject: str
    body: str
    created_at: datetime
    updated_at: datetime


class TemplatePage(Page):
    items: list[TemplateOut]


@router.get("/inboxes", response=InboxPage, tags=TAGS, summary="List the account's sending inboxes",
            description="Each inbox is a From address with its daily and per-minute sending limits and the time "
                        "zone of its send window. Pass an inbox's `id` as `inbox_id` when enrolling contacts.")
def inbox_list(request, cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    return paginate(selectors.inboxes_of(request.account), cursor=cursor, limit=limit)


@router.get("/templates", response=TemplatePage, tags=TAGS, summary="List the account's email templates",
            description="Subjects and bodies with their personalisation tokens, e.g. "
                        "`{{ contact.first_name | there }}`. Email steps own a template each; editing a step's "
                        "email after it was sent gives the step a new template, so old sends keep theirs.")
def template_list(request, q: str = "", cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    rows = selectors.templates_of(request.account)
    for word in q.split():
        rows = rows.filter(name__icontains=word)
    return paginate(rows, cursor=cursor, limit=limit)
