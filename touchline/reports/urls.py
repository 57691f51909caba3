from django.urls import path

from touchline.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.report_index, name="list"),
    path("<slug:report_key>/", views.report_detail, name="detail"),
]
