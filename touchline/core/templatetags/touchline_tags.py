from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def sort_header(label: str, key: str, params, sort_query: str, numeric: bool = False):
    """A sortable column header: links to ascending, or descending when already ascending; marks the current sort."""
    current = params.sort
    descending_next = current == key
    arrow = " ▲" if current == key else " ▼" if current == f"-{key}" else ""
    target = f"-{key}" if descending_next else key
    prefix = f"{sort_query}&" if sort_query else ""
    return format_html('<th scope="col"{}><a href="?{}sort={}">{}{}</a></th>',
                       ' class="num"' if numeric else "", prefix, target, label, arrow)


@register.filter
def money(amount, currency: str = ""):
    if amount is None:
        return "—"
    return f"{amount:,.2f} {currency}".strip()


@register.filter
def report_cell(row: dict, column) -> str:
    """A report table cell: counts with thousands separators, money with two decimals."""
    value = row.get(column.key)
    if value is None or value == "":
        return "—" if column.kind != "text" else ""
    if column.kind in ("money", "decimal"):  # decimal: a fractional count, e.g. attributed contacts
        return f"{value:,.2f}"
    if column.kind == "percent":
        return f"{value}%"
    if column.kind == "count":
        return f"{value:,}"
    return str(value)


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key) if mapping else None
