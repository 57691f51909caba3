"""One module per report; importing this package registers them all."""

from touchline.reports.queries import (  # noqa: F401
    campaign_attribution,
    campaign_performance,
    custom,
    deals_by_stage,
    sequence_content,
    sequence_engagement,
    sequence_library,
)
