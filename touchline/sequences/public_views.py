"""The public endpoints reached from sequence emails (mounted at /t/). No login, no session: the signed token
is the authority (tokens.py), and a token that does not verify is answered without revealing anything and
without recording anything — the pixel still answers its GIF (mail clients show a broken image otherwise),
the click redirect and the unsubscribe page answer 404, and the redirect never goes anywhere its own verified
token does not name, so there is no open redirect.

HEAD requests are answered like GET but record nothing: browsers and mail clients GET; only link checkers
send HEAD.
"""

from __future__ import annotations

import base64

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from touchline.core.http import client_ip
from touchline.sequences import tokens, tracking
from touchline.sequences.models import EventKind

# A 1x1 transparent GIF (43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Tokens are a few hundred characters; a click token grows with its destination URL, and 4 KB fits any
# URL an email would carry. Anything longer is refused before any signature work.
MAX_TOKEN_LENGTH = 4096


def _agent_and_ip(request) -> tuple[str, str | None]:
    return request.META.get("HTTP_USER_AGENT", ""), client_ip(request) or None


def _verified(token: str, read):
    """What the token signs, or None when it is too long or was not made by us for this purpose."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        return read(token)
    except tokens.BadToken:
        return None


@require_safe
@never_cache  # every open must reach us: no browser, proxy or CDN may answer from a cache
def open_pixel(request, token: str):
    message_id = _verified(token, tokens.open_message_id)
    if message_id is not None and request.method == "GET":
        agent, ip = _agent_and_ip(request)
        tracking.hit_enqueue(kind=EventKind.OPEN, message_id=message_id, user_agent=agent, ip=ip)
    return HttpResponse(PIXEL, content_type="image/gif")


@require_safe
@never_cache
def click(request, token: str):
    target = _verified(token, tokens.click_target)
    if target is None:
        raise Http404("Unknown link")
    if request.method == "GET":
        agent, ip = _agent_and_ip(request)
        tracking.hit_enqueue(kind=EventKind.CLICK, message_id=target.message_id, user_agent=agent, ip=ip,
                             url=target.url)
    return HttpResponseRedirect(target.url)


# Exempt from CSRF: mail providers send the RFC 8058 one-click POST with no cookie and no CSRF token, and the
# signed token in the URL — which only the recipient has — is what authorises the change, not a session.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
@never_cache
def unsubscribe(request, token: str):
    message_id = _verified(token, tokens.unsubscribe_message_id)
    if message_id is None:
        raise Http404("Unknown link")
    if request.method != "POST":
        # GET only asks: link scanners follow every link of an email and must not unsubscribe anyone.
        if tracking.unsubscribe_message(message_id) is None:
            raise Http404("Unknown link")
        return render(request, "sequences/unsubscribe.html")
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    if not tracking.unsubscribe_record(message_id=message_id, one_click=one_click):
        raise Http404("Unknown link")
    if one_click:  # a mail provider, not a person, reads this answer
        return HttpResponse("Unsubscribed.\n", content_type="text/plain")
    return render(request, "sequences/unsubscribe_done.html")
