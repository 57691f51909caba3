from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "touchline.sequences"
    label = "sequences"
