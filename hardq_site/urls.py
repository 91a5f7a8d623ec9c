from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView

from analysis import views as analysis_views

urlpatterns = [
    path("", analysis_views.home, name="home"),
    # browsers ask for /favicon.ico on pages that name none (admin, API)
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True), name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("analysis/", include("analysis.urls")),
    path("judges/", include("judges.urls")),
    path("annotation/", include("annotation.urls")),
    path("agreement/", include("annotation.report_urls")),
    path("api/", include("hardq_site.api_urls")),
]

handler404 = "conventions.api.not_found"
handler500 = "conventions.api.server_error"
