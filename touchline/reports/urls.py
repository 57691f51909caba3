from django.urls import path

from touchline.core.views import home as _placeholder  # replaced by the report views

app_name = "reports"
urlpatterns = [path("", _placeholder, name="list")]
