from django.urls import path

from touchline.tracking import views

app_name = "tracking"
urlpatterns = [
    path("", views.site_list, name="sites"),
    path("<int:site_id>/forms/new/", views.form_create, name="form-create"),
]
