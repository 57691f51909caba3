"""One module per report; importing this package registers them all."""

from touchline.reports.queries import deals_by_stage  # noqa: F401
