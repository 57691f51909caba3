from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "touchline.reports"
    label = "reports"
    verbose_name = "Reports"
