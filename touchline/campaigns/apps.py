from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "touchline.campaigns"
    label = "campaigns"
