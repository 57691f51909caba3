"""Pages of the sequences UI (logged in, account-scoped)."""

from django.urls import path

from touchline.sequences import views

app_name = "sequences"
urlpatterns = [
    path("sequences/", views.sequence_list, name="list"),
    path("sequences/new/", views.sequence_create, name="create"),
    path("sequences/<int:sequence_id>/", views.sequence_detail, name="detail"),
    path("sequences/<int:sequence_id>/delete/", views.sequence_delete, name="delete"),
    path("sequences/<int:sequence_id>/enroll/", views.sequence_enroll, name="enroll"),
    path("sequences/<int:sequence_id>/enrollments/", views.sequence_enrollments, name="enrollments"),
    path("tasks/", views.task_list, name="tasks"),
    path("tasks/<int:task_id>/finish/", views.task_finish, name="task-finish"),
]
