from django.contrib.auth import views as auth_views
from django.urls import include, path

from touchline.core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="core/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/switch/", views.account_switch_view, name="account-switch"),
    path("dashboards/", include("touchline.reports.dashboard_urls")),  # the Dashboards nav item opens the default
]
