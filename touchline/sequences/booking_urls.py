"""Public booking pages (`/meet/<slug>/`), the signed scheduler webhook and the logged-in shortcut to one's own
booking page (`/meet/`). See docs/meetings.md."""

from django.urls import path

from touchline.sequences import booking_views

app_name = "booking"
urlpatterns = [
    path("", booking_views.my_booking_page, name="mine"),
    path("webhook/<int:account_id>/", booking_views.webhook, name="webhook"),
    path("<slug:slug>/", booking_views.booking_page, name="page"),
]
