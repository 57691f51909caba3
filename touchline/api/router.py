"""The JSON API: one NinjaAPI at /api/v1/ with its OpenAPI document; interactive docs at /api/docs.

Each domain app contributes a router from its own `api.py`; this module only assembles them and installs
authentication and the error envelope shared by every endpoint.
"""

from ninja import NinjaAPI

from touchline.api.auth import API_AUTH
from touchline.api.errors import document_errors, install_error_handlers
from touchline.api.ratelimit import PerCallerRateLimit


class TouchlineAPI(NinjaAPI):
    """The OpenAPI document also describes the error answers of every operation (`errors.document_errors`)."""

    def get_openapi_schema(self, **kwargs):
        return document_errors(super().get_openapi_schema(**kwargs))


api = TouchlineAPI(
    title="Touchline API",
    version="1",
    description="Companies, contacts, deals and reports of the account the token (or session) belongs to. "
                "Errors answer `{\"error\": {\"code\", \"message\", \"fields\"}}`; lists are cursor-paginated. "
                "Each token (or session) may make API_RATE_LIMIT_PER_MINUTE requests per clock minute; past it the "
                "API answers 429 `rate_limited` with `Retry-After`.",
    urls_namespace="api-v1",
    auth=API_AUTH,
    throttle=PerCallerRateLimit(),
)
install_error_handlers(api)


def _add_routers() -> None:
    from touchline.campaigns.api import assets_router
    from touchline.campaigns.api import router as campaigns_router
    from touchline.core.api import router as account_router
    from touchline.crm.api import router as crm_router
    from touchline.crm.import_api import router as import_router
    from touchline.reports.api import router as reports_router
    from touchline.reports.dashboards_api import router as dashboards_router
    from touchline.sequences.api import router as sequences_router

    api.add_router("/", account_router)  # /me, /users
    api.add_router("/", crm_router)
    api.add_router("/", import_router)  # /import
    api.add_router("/reports", reports_router)
    api.add_router("/sequences", sequences_router)
    api.add_router("/campaigns", campaigns_router)
    api.add_router("/assets", assets_router)
    api.add_router("/", dashboards_router)  # /saved-reports, /dashboards: not under /reports (its /{report_key})


_add_routers()
