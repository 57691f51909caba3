from django.urls import path

from touchline.api import views

app_name = "api"
urlpatterns = [
    path("", views.api_token_list, name="token-list"),
    path("<int:token_id>/revoke/", views.api_token_revoke_view, name="token-revoke"),
]
