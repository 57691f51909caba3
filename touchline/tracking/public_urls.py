"""The tracked website's endpoints (no login): collector and forms, under /t/; the snippet is /t.js."""

from django.urls import path

from touchline.tracking import public_views

app_name = "tracking-public"
urlpatterns = [
    path("collect", public_views.collect, name="collect"),
    path("forms/<str:key>", public_views.form_definition, name="form"),
    path("forms/<str:key>/submit", public_views.form_submit, name="form-submit"),
]
