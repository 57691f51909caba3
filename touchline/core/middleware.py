"""Resolve the request's account and activate its scope for the whole request.

The account comes from the session (`account_id`, set at login and by the account switcher) and must be
one the user is a member of; API requests with a bearer token get the token's account instead (see
`touchline.api.tokens`). Requests without an account run in an empty scope: every tenant query
returns nothing rather than everything.
"""

from __future__ import annotations

from django_scopes import scope, scopes_disabled

from touchline.core.accounts import resolve_request_account

ADMIN_PREFIX = "/admin/"


class AccountScopeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.account, request.membership = resolve_request_account(request)
        if request.path.startswith(ADMIN_PREFIX) and request.user.is_authenticated and request.user.is_staff:
            # The Django admin is the operators' cross-account console.
            with scopes_disabled():
                return self.get_response(request)
        with scope(account=request.account):
            return self.get_response(request)
