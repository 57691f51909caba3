"""One module per report; importing this package registers them all."""

from touchline.reports.queries import deals_by_stage, sequence_content, sequence_engagement  # noqa: F401
