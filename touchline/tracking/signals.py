"""Signals of web tracking, for apps that keep their own rollups of it (campaigns keeps each campaign's sessions).

page_view_recorded(sender=PageView, view=PageView, session=WebSession, new_session=bool) — sent inside the
transaction that stores the view, so a receiver's writes commit or roll back with it (pageview_record: the
importer and the demo).
page_views_recorded(sender=PageView, notes=[(view, session, new_session), …]) — the same for the worker's batch of
views (services.hits_sessionise), in time order, sent once after the batch is written (each session as stored at
the end of the batch), in its transaction.
visitor_identified(sender=Visitor, visitor=Visitor) — sent when a visitor's contact is set (identify, or a move
to another contact), after it is saved."""

from django.dispatch import Signal

page_view_recorded = Signal()
page_views_recorded = Signal()
visitor_identified = Signal()
