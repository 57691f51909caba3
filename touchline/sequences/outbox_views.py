"""The local outbox pages: what the SMTP sink of `touchline serve` received for this account."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from touchline.sequences.outbox import outbox_dir, outbox_get, outbox_list


@login_required
def outbox_index(request):
    return render(request, "sequences/outbox.html", {"emails": outbox_list(request.account),
                                                     "folder": outbox_dir()})


@login_required
def outbox_email(request, name: str):
    found = outbox_get(request.account, name)
    if found is None:
        raise Http404("No such email in this account's outbox")
    email, mime = found
    text = mime.get_body(("plain",))
    html = mime.get_body(("html",))
    return render(request, "sequences/outbox_email.html", {
        "email": email, "headers": list(mime.items()), "text": text.get_content() if text else "",
        "html": html.get_content() if html else ""})
