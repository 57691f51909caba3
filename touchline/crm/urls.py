from django.urls import path

from touchline.core.views import home as _placeholder  # replaced by the CRM views

app_name = "crm"
urlpatterns = [
    path("contacts/", _placeholder, name="contact-list"),
    path("companies/", _placeholder, name="company-list"),
    path("deals/", _placeholder, name="deal-list"),
]
