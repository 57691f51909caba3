from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "touchline.campaigns"
    label = "campaigns"

    def ready(self):
        from touchline.campaigns import services
        from touchline.tracking.signals import page_view_recorded

        def note(sender, view, session, new_session, **kwargs):
            services.campaign_sessions_note(view=view, session=session, new_session=new_session)

        page_view_recorded.connect(note, dispatch_uid="campaign_sessions_note", weak=False)
