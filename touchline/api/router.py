"""The JSON API: one NinjaAPI at /api/v1/, interactive docs at /api/docs (mounted in config/urls.py)."""

from ninja import NinjaAPI

api = NinjaAPI(title="Touchline API", version="1", urls_namespace="api-v1")
