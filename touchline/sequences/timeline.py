"""A contact's sequence history on its timeline: enrollments and their engagement, one query."""

from __future__ import annotations

from django.urls import reverse

from touchline.crm.models import Contact
from touchline.crm.timeline import MAX_ENTRIES, TimelineEntry, register_timeline_source
from touchline.sequences.models import EngagementEvent


@register_timeline_source
def sequence_entries(account, subject) -> list[TimelineEntry]:
    if not isinstance(subject, Contact):
        return []
    events = (EngagementEvent.objects.filter(account=account, contact=subject).select_related("sequence", "step")
              .order_by("-occurred_at")[:MAX_ENTRIES])
    entries = []
    for event in events:
        where = f" · {event.sequence.name}" if event.sequence else ""
        step = f", step {event.step.position}" if event.step else ""
        machine = f" (machine: {event.machine_reason})" if event.is_machine else ""
        url = reverse("sequences:detail", args=[event.sequence_id]) if event.sequence_id else ""
        entries.append(TimelineEntry(event.occurred_at, f"sequence_{event.kind}",
                                     f"Sequence: {event.get_kind_display()}{where}{step}{machine}",
                                     event.detail or event.url, url))
    return entries
