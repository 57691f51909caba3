from django.apps import AppConfig


class AttributionConfig(AppConfig):
    name = "touchline.attribution"
    label = "attribution"
