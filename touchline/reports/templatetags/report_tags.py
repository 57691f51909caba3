"""Template helpers of the report pages."""

import json

from django import template

register = template.Library()


@register.filter
def as_json(value) -> str:
    """The value as compact JSON text, e.g. a result's parameters for the "save as report" link (urlencode it)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
