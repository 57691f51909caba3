from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "touchline.campaigns"
    label = "campaigns"

    def ready(self):
        from touchline.campaigns import services
        from touchline.tracking.signals import page_view_recorded, visitor_identified

        def note(sender, view, session, new_session, **kwargs):
            services.campaign_sessions_note(view=view, session=session, new_session=new_session)
            services.page_rollups_note(view=view, new_session=new_session)

        def identify(sender, visitor, **kwargs):
            services.campaign_sessions_identify(visitor=visitor)
            services.page_rollups_identify(visitor=visitor)

        page_view_recorded.connect(note, dispatch_uid="campaign_sessions_note", weak=False)
        visitor_identified.connect(identify, dispatch_uid="campaign_sessions_identify", weak=False)
