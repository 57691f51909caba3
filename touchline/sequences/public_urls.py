"""Public, token-authenticated endpoints reached from emails: open pixel, click redirect, unsubscribe.
No login and no session: the signed token is the authority (see tokens.py)."""

from django.urls import path  # noqa: F401 (routes are added by the tracking work)

app_name = "sequences-public"
urlpatterns: list = []
