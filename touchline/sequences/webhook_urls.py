"""Event webhooks of teams' own email providers (mounted at /webhooks/esp/); see docs/esp-webhooks.md.
One route per provider, so the URL names the payload format and no keyword but the webhook's key is needed."""

from django.urls import path

from touchline.sequences.esp import views
from touchline.sequences.models import EspProvider

app_name = "esp-webhooks"
urlpatterns = [
    path(f"{provider}/<str:webhook_key>", views.esp_webhook, {"provider": provider}, name=provider)
    for provider in EspProvider.values
]
