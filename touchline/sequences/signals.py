"""Signals of sequences, for apps that keep their own rollups of its events (campaigns keeps each contact's last
touch).

events_recorded(sender=EngagementEvent, events=list[EngagementEvent]) — sent by engagement_rollup_add, which every
way of inserting events calls in the inserting transaction (one event, a batch of ended enrollments, sends, an
import), so a receiver's writes commit or roll back with them."""

from django.dispatch import Signal

events_recorded = Signal()
