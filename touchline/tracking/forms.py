from django import forms


class SiteForm(forms.Form):
    name = forms.CharField(max_length=200)
    domains = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}),
                              help_text="Hostnames the site is served from, one per line (subdomains included)")


class FormForm(forms.Form):
    name = forms.CharField(max_length=200)
    fields = forms.CharField(
        initial="email, first_name, last_name", label="Fields",
        help_text="Comma-separated: email (always required), first_name, last_name, job_title, phone, or your own "
                  "(kept with the submission); end a name with * to require it")

    def clean_fields(self):
        fields = []
        for name in self.cleaned_data["fields"].split(","):
            name = name.strip()
            if name:
                required = name.endswith("*")
                fields.append({"name": name.rstrip("*").strip(), "required": required,
                               "type": "email" if name.startswith("email") else "text"})
        return fields
