from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "touchline.tracking"
    label = "tracking"
