from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "touchline.sequences"
    label = "sequences"

    def ready(self):
        from touchline.sequences import timeline  # noqa: F401 - registers the contact timeline source
