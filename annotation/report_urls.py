from django.urls import path

from annotation import report_views

app_name = "agreement"

urlpatterns = [
    path("", report_views.dashboard, name="dashboard"),
    path("export.<str:fmt>", report_views.export, name="export"),
]
