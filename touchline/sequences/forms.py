"""Forms of the sequences pages: they check the shape of input; the services enforce the rules."""

from __future__ import annotations

from datetime import time

from django import forms

from touchline.sequences.models import StepType


class SequenceForm(forms.Form):
    name = forms.CharField(max_length=200)
    send_window_start = forms.TimeField(initial=time(8, 0), widget=forms.TimeInput(attrs={"type": "time"}))
    send_window_end = forms.TimeField(initial=time(18, 0), widget=forms.TimeInput(attrs={"type": "time"}))
    business_days_only = forms.BooleanField(required=False, initial=True,
                                            help_text="Steps falling on a weekend run on Monday")
    thread_follow_ups = forms.BooleanField(required=False, initial=True,
                                           help_text="Follow-up emails reply in the first email's thread")
    unenroll_same_company = forms.BooleanField(
        required=False, help_text="A reply or meeting from a colleague at the same company ends the enrollment")

    def clean(self):
        data = super().clean()
        if data.get("send_window_start") and data.get("send_window_end") and \
                data["send_window_start"] >= data["send_window_end"]:
            raise forms.ValidationError("The send window must end after it starts.")
        return data


class StepForm(forms.Form):
    step_type = forms.ChoiceField(choices=StepType.choices, label="Type")
    delay_days = forms.IntegerField(min_value=0, max_value=365, initial=2, label="Delay (days after the previous step)")
    subject = forms.CharField(max_length=300, required=False,
                              help_text="e.g. Quick question, {{ contact.first_name | there }}")
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}),
                           help_text="Blank lines separate paragraphs; URLs become tracked links")
    task_title = forms.CharField(max_length=200, required=False, label="Task title")


class EnrollForm(forms.Form):
    contacts = forms.TypedMultipleChoiceField(coerce=int, choices=(), label="Contacts")
    inbox = forms.TypedChoiceField(coerce=int, choices=(), required=False,
                                   help_text="Leave empty to send from your own inbox (made from your email)")
    start_position = forms.IntegerField(min_value=1, initial=1, label="Start at step")

    def __init__(self, *args, contact_choices, inbox_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contacts"].choices = contact_choices
        self.fields["inbox"].choices = [("", "My inbox")] + inbox_choices


class BulkForm(forms.Form):
    ACTIONS = (("pause", "Pause"), ("resume", "Resume"), ("unenroll", "Unenroll"))
    action = forms.ChoiceField(choices=ACTIONS)
    enrollments = forms.TypedMultipleChoiceField(coerce=int, choices=())

    def __init__(self, *args, enrollment_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["enrollments"].choices = [(pk, pk) for pk in enrollment_ids]

