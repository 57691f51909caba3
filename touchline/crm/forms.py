"""Forms of the CRM pages. They parse and validate input shape; the services enforce the invariants.

Related records are typed, not picked from giant selects (an account has tens of thousands of contacts):
a company by its exact name or domain, a deal's contacts by their emails. Each is resolved in the account.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from touchline.core.models import Account
from touchline.crm.models import Company, Contact, DealStage, LifecycleStage, normalise_domain, normalise_email


class _AccountForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["owner"].queryset = get_user_model().objects.filter(memberships__account=account).order_by(
            "first_name", "last_name", "username")
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username

    def _resolve_company(self, text: str) -> Company | None:
        text = text.strip()
        if not text:
            return None
        matches = list(Company.objects.filter(account=self.account).filter(
            Q(name__iexact=text) | Q(domain=normalise_domain(text)))[:2])
        if not matches:
            raise forms.ValidationError(f"No company named {text!r} or with that domain.")
        if len(matches) > 1:
            raise forms.ValidationError(f"Several companies match {text!r}; use the domain.")
        return matches[0]


class CompanyForm(_AccountForm):
    name = forms.CharField(max_length=255)
    domain = forms.CharField(max_length=255, required=False, help_text="e.g. example.com")
    industry = forms.CharField(max_length=100, required=False)


class ContactForm(_AccountForm):
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    job_title = forms.CharField(max_length=200, required=False)
    phone = forms.CharField(max_length=50, required=False)
    company = forms.CharField(max_length=255, required=False, help_text="The company's exact name or its domain")
    lifecycle_stage = forms.ChoiceField(choices=LifecycleStage.choices, initial=LifecycleStage.LEAD)
    other_emails = forms.CharField(
        required=False, label="Other email addresses", widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Aliases or personal addresses, separated by commas or new lines: mail from them is this contact's")

    def clean_company(self):
        return self._resolve_company(self.cleaned_data["company"])

    def clean_other_emails(self) -> list[str]:
        return [normalise_email(e) for e in self.cleaned_data["other_emails"].replace("\n", ",").split(",")
                if e.strip()]


class DealForm(_AccountForm):
    name = forms.CharField(max_length=255)
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = forms.CharField(max_length=3, initial="USD")
    stage = forms.ModelChoiceField(queryset=DealStage.objects.none())
    company = forms.CharField(max_length=255, required=False, help_text="The company's exact name or its domain")
    contact_emails = forms.CharField(required=False, label="Contacts",
                                     help_text="Emails of the deal's contacts, separated by commas")

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, account=account, **kwargs)
        self.fields["stage"].queryset = DealStage.objects.filter(account=account).select_related("pipeline").order_by(
            "pipeline__name", "position")
        self.fields["stage"].label_from_instance = lambda s: f"{s.pipeline.name} · {s.name}"

    def clean_company(self):
        return self._resolve_company(self.cleaned_data["company"])

    def clean_contact_emails(self) -> list[Contact]:
        emails = [normalise_email(e) for e in self.cleaned_data["contact_emails"].split(",") if e.strip()]
        found = {c.email: c for c in Contact.objects.filter(account=self.account, email__in=emails)}
        missing = [e for e in emails if e not in found]
        if missing:
            raise forms.ValidationError(f"No contact with the email {', '.join(missing)}.")
        return list(found.values())
