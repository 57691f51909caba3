from django.urls import path

from touchline.sequences import outbox_views

app_name = "outbox"
urlpatterns = [
    path("", outbox_views.outbox_index, name="list"),
    path("<str:name>", outbox_views.outbox_email, name="email"),
]
