from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "touchline.core"
    label = "core"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from touchline.core import db  # noqa: F401  (connects the per-connection database setup)
