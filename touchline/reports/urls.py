from django.urls import path

from touchline.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.report_index, name="list"),
    path("save/", views.saved_report_save, name="save"),
    path("saved/", views.saved_report_list, name="saved-list"),
    path("saved/<int:saved_report_id>/", views.saved_report_detail, name="saved-detail"),
    path("saved/<int:saved_report_id>/rename/", views.saved_report_rename, name="saved-rename"),
    path("saved/<int:saved_report_id>/delete/", views.saved_report_delete, name="saved-delete"),
    path("sequences/analyze/", views.sequences_analyze, name="sequences-analyze"),
    path("sequences/<int:sequence_id>/performance/", views.sequence_performance, name="sequence-performance"),
    path("sequences/<int:sequence_id>/steps/<int:step_id>/<slug:status>/", views.sequence_step_contacts,
         name="sequence-step-contacts"),
    path("custom/", views.custom_report_builder, name="custom"),  # the builder page of the `custom` report
    path("<slug:report_key>/", views.report_detail, name="detail"),
]
