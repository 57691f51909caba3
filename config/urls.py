from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from touchline.api.router import api
from touchline.tracking import public_views as tracking_public

# The public tracking endpoints come first: they take the most requests, and Django tries patterns in order.
urlpatterns = [
    path("t.js", tracking_public.snippet_js, name="snippet"),
    path("t/", include("touchline.tracking.public_urls")),
    path("t/", include("touchline.sequences.public_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("api/docs", RedirectView.as_view(url="/api/v1/docs", permanent=False)),
    path("api/docs/", RedirectView.as_view(url="/api/v1/docs", permanent=False)),
    path("", include("touchline.core.urls")),
    path("", include("touchline.crm.urls")),
    path("reports/", include("touchline.reports.urls")),
    path("campaigns/", include("touchline.campaigns.urls")),
    path("sites/", include("touchline.tracking.urls")),
    path("meet/", include("touchline.sequences.booking_urls")),
    path("outbox/", include("touchline.sequences.outbox_urls")),
    path("webhooks/esp/", include("touchline.sequences.webhook_urls")),
    path("", include("touchline.sequences.urls")),
    path("settings/api-tokens/", include("touchline.api.urls")),
]
