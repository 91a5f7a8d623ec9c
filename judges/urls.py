"""Endpoints, versioned prompt templates, LLM jobs and the call cache/audit trail."""
from django.urls import path

from judges import views

app_name = "judges"

urlpatterns = [
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/new/", views.job_create, name="job_create"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/<str:action>/", views.job_control, name="job_control"),
    path("assessors/<path:name>/", views.assessor_card, name="assessor_card"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
    path("assessors/<str:name>/probes/", views.assessor_probes, name="assessor_probes"),
]
