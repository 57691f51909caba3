from django.contrib import admin

from touchline.sequences.models import EspWebhook


@admin.register(EspWebhook)
class EspWebhookAdmin(admin.ModelAdmin):
    """Operators set up and inspect accounts' ESP webhooks here (docs/esp-webhooks.md); an SNS subscription waiting
    for confirmation shows its SubscribeURL, to be opened by hand."""

    list_display = ("id", "account", "provider", "topic_arn", "subscribe_url_received_at", "created_at")
    list_filter = ("provider", "account")
    readonly_fields = ("key", "subscribe_url", "subscribe_url_received_at", "created_at")
    search_fields = ("topic_arn", "username")
