"""Public booking pages (`/meet/<slug>/`) and the signed scheduler webhook."""

from django.urls import path  # noqa: F401 (routes are added by the meetings work)

app_name = "booking"
urlpatterns: list = []
