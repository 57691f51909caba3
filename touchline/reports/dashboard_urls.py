"""Dashboards, mounted at /dashboards/ (touchline/core/urls.py); their views live in touchline/reports/views.py."""

from django.urls import path

from touchline.reports import views

app_name = "dashboards"
urlpatterns = [
    path("", views.dashboard_home, name="home"),
    path("all/", views.dashboard_list, name="list"),
    path("<int:dashboard_id>/", views.dashboard_detail, name="detail"),
    path("<int:dashboard_id>/edit/", views.dashboard_edit, name="edit"),
    path("<int:dashboard_id>/delete/", views.dashboard_delete, name="delete"),
    path("<int:dashboard_id>/default/", views.dashboard_make_default, name="make-default"),
    path("<int:dashboard_id>/add/", views.dashboard_add_from_library, name="add"),
    path("<int:dashboard_id>/tiles/<int:tile_id>/", views.dashboard_tile, name="tile"),
    path("<int:dashboard_id>/tiles/<int:tile_id>/move/", views.dashboard_tile_move, name="tile-move"),
    path("<int:dashboard_id>/tiles/<int:tile_id>/remove/", views.dashboard_tile_remove, name="tile-remove"),
]
