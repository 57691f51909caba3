from django.urls import path

from touchline.core.views import home as _placeholder  # replaced by the token views

app_name = "api"
urlpatterns = [path("", _placeholder, name="token-list")]
