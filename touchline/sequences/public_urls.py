"""Public, token-authenticated endpoints reached from emails: open pixel, click redirect, unsubscribe.
No login and no session: the signed token is the authority (see tokens.py)."""

from django.urls import path

from touchline.sequences import public_views

app_name = "sequences-public"
urlpatterns = [
    path("o/<str:token>.gif", public_views.open_pixel, name="open"),
    path("c/<str:token>", public_views.click, name="click"),
    path("u/<str:token>", public_views.unsubscribe, name="unsubscribe"),
]
