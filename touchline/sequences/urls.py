"""Pages of the sequences UI (logged in, account-scoped)."""

from django.urls import path  # noqa: F401

app_name = "sequences"
urlpatterns: list = []
