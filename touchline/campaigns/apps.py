from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "touchline.campaigns"
    label = "campaigns"

    def ready(self):
        from django.db.models.signals import post_save

        from touchline.campaigns import services
        from touchline.campaigns.analytics import RANK_SEQUENCE, RANK_SUBMISSION, RANK_VIEW
        from touchline.crm.models import Contact
        from touchline.sequences.models import EventKind
        from touchline.sequences.signals import events_recorded
        from touchline.tracking.models import FormSubmission
        from touchline.tracking.signals import page_view_recorded, page_views_recorded, visitor_identified

        # The campaign rollups follow every write they summarise (docs/campaigns.md): the tracking and sequences
        # signals are sent by their services inside the writing transaction; a form submission and a contact are
        # saved by one service each, whose save is the signal.

        def note(sender, view, session, new_session, **kwargs):
            services.campaign_sessions_note(view=view, session=session, new_session=new_session)
            services.page_rollups_note(view=view, new_session=new_session)
            if view.visitor.contact_id is not None and new_session:
                services.first_session_note(contact_id=view.visitor.contact_id, session=session)
            if view.visitor.contact_id is not None:
                services.last_touch_note(contact_id=view.visitor.contact_id, at=view.occurred_at, rank=RANK_VIEW,
                                         ref=view.pk, session_id=view.session_id)

        def note_many(sender, notes, **kwargs):
            services.campaign_rollups_note_many(notes=notes, rank=RANK_VIEW)

        def identify(sender, visitor, **kwargs):
            services.campaign_sessions_identify(visitor=visitor)
            services.page_rollups_identify(visitor=visitor)
            services.last_touch_identify(visitor=visitor)
            services.first_session_identify(visitor=visitor)

        def submitted(sender, instance, created, raw=False, **kwargs):
            if created and not raw:
                services.last_touch_note(contact_id=instance.contact_id, at=instance.submitted_at,
                                         rank=RANK_SUBMISSION, ref=instance.pk, form_id=instance.form_id)

        def events(sender, events, **kwargs):
            for event in events:
                if event.kind in (EventKind.CLICK, EventKind.REPLY) and not event.is_machine:
                    services.last_touch_note(contact_id=event.contact_id, at=event.occurred_at, rank=RANK_SEQUENCE,
                                             ref=event.pk, sequence_id=event.sequence_id)

        def contact_saved(sender, instance, created, raw=False, **kwargs):
            if not created and not raw:  # its creation time may have moved: what counts as before it changes
                services.contact_rollups_follow(contact=instance)

        page_view_recorded.connect(note, dispatch_uid="campaign_rollups_note", weak=False)
        page_views_recorded.connect(note_many, dispatch_uid="campaign_rollups_note_many", weak=False)
        visitor_identified.connect(identify, dispatch_uid="campaign_rollups_identify", weak=False)
        events_recorded.connect(events, dispatch_uid="campaign_last_touch_events", weak=False)
        post_save.connect(submitted, sender=FormSubmission, dispatch_uid="campaign_last_touch_submission", weak=False)
        post_save.connect(contact_saved, sender=Contact, dispatch_uid="campaign_last_touch_contact", weak=False)
