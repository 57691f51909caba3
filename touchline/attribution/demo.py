"""Demo: compute every conversion's credits once the other apps' demo data exists (registered after them)."""

from touchline.attribution.services import attribution_refresh
from touchline.core.demo import DemoContext, register_demo_extension


@register_demo_extension
def attribution_demo(ctx: DemoContext) -> dict[str, int]:
    return {"conversions credited": attribution_refresh(ctx.account, full=True)["conversions"]}
