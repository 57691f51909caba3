from django import forms

from touchline.campaigns.models import PAGE_TYPES, AssetType


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    utm_campaign = forms.CharField(max_length=100, required=False, label="UTM campaign",
                                   help_text="The utm_campaign value of this campaign's links; default: from the name")
    start_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    budget = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2)
    goal_sessions = forms.IntegerField(required=False, min_value=0, label="Goal: sessions")
    goal_new_contacts = forms.IntegerField(required=False, min_value=0, label="Goal: new contacts")
    goal_influenced_contacts = forms.IntegerField(required=False, min_value=0, label="Goal: influenced contacts")
    goal_revenue = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2,
                                      label="Goal: revenue")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class PageAssetForm(forms.Form):
    url = forms.URLField(label="Page URL", assume_scheme="https")
    asset_type = forms.ChoiceField(choices=[(t.value, t.label) for t in PAGE_TYPES], label="Type")
    name = forms.CharField(max_length=300, required=False)


class ObjectAssetForm(forms.Form):
    """A form or a sequence of the account, chosen from a list."""

    asset = forms.ChoiceField(label="Form or sequence")

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["asset"].choices = choices


class ExternalAssetForm(forms.Form):
    asset_type = forms.ChoiceField(label="Type", choices=[
        (t.value, t.label) for t in AssetType if t.value in (
            "marketing_email", "cta", "ad", "social_post", "static_list", "workflow")])
    name = forms.CharField(max_length=300)
    external_id = forms.CharField(max_length=100, required=False, label="External id",
                                  help_text="Its id in the tool it lives in; imports match interactions by it")


class TrackingUrlForm(forms.Form):
    page_url = forms.URLField(label="Page URL", assume_scheme="https")
    utm_source = forms.CharField(max_length=100, label="Source", help_text="e.g. newsletter, linkedin, google")
    utm_medium = forms.CharField(max_length=100, label="Medium", help_text="e.g. email, social, cpc")
    utm_term = forms.CharField(max_length=100, required=False, label="Term")
    utm_content = forms.CharField(max_length=100, required=False, label="Content")
