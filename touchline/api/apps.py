from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "touchline.api"
    label = "api"
    verbose_name = "API"
