from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "touchline.crm"
    label = "crm"
    verbose_name = "CRM"
