from django.urls import path

from touchline.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.report_index, name="list"),
    path("sequences/analyze/", views.sequences_analyze, name="sequences-analyze"),
    path("sequences/<int:sequence_id>/performance/", views.sequence_performance, name="sequence-performance"),
    path("sequences/<int:sequence_id>/steps/<int:step_id>/<slug:status>/", views.sequence_step_contacts,
         name="sequence-step-contacts"),
    path("<slug:report_key>/", views.report_detail, name="detail"),
]
