from django.urls import path

from touchline.campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("<int:campaign_id>/", views.campaign_detail, name="detail"),
    path("<int:campaign_id>/edit/", views.campaign_edit, name="edit"),
    path("<int:campaign_id>/performance/", views.campaign_performance, name="performance"),
    path("<int:campaign_id>/performance/rows/", views.campaign_performance_rows, name="performance-rows"),
    path("<int:campaign_id>/attribution/", views.campaign_attribution, name="attribution"),
    path("<int:campaign_id>/interactions/", views.campaign_interactions, name="interactions"),
    path("<int:campaign_id>/assets/<int:asset_id>/", views.campaign_asset, name="asset"),
    path("<int:campaign_id>/associations/<int:association_id>/remove/", views.association_remove,
         name="association-remove"),
]
