"""Who may call the API: a bearer token (`Authorization: Bearer tl_…`) or the browser's logged-in session.

The account middleware has already resolved the request's account and membership from either (see
`touchline.core.accounts.resolve_request_account`); these classes only decide whether that is enough and
describe the schemes in the OpenAPI document. Session calls with unsafe methods must pass Django's CSRF
check, as forms do; token calls carry no cookie and need none.
"""

from __future__ import annotations

from django.conf import settings
from ninja.security import APIKeyCookie, HttpBearer


class BearerToken(HttpBearer):
    def authenticate(self, request, token: str):
        if getattr(request, "api_token", None) is not None and request.membership is not None:
            return request.membership
        return None


class BrowserSession(APIKeyCookie):
    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request, key: str | None):
        if request.user.is_authenticated and request.membership is not None:
            return request.membership
        return None


API_AUTH = [BearerToken(), BrowserSession(csrf=True)]
