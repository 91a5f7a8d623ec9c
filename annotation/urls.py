"""Campaigns, items, assignments, human verdicts and their history."""
from django.urls import path

from annotation import views

app_name = "annotation"

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/", views.annotate, name="annotate"),
    path("campaigns/<int:pk>/next/", views.next_item, name="next"),
    path("campaigns/<int:pk>/undo/", views.undo, name="undo"),
    path("campaigns/<int:pk>/labels/", views.labels, name="labels"),
    path("campaigns/<int:pk>/review/", views.review, name="review"),
    path("campaigns/<int:pk>/export/", views.export, name="export"),
    path("campaigns/<int:pk>/status/", views.set_status, name="status"),
    path("assignments/<int:pk>/submit/", views.submit, name="submit"),
    path("assignments/<int:pk>/skip/", views.skip, name="skip"),
    path("assignments/<int:pk>/draft/", views.draft, name="draft"),
    path("items/<int:pk>/adjudicate/", views.adjudicate, name="adjudicate"),
    path("campaigns/<int:pk>/budget-round/", views.budget_round, name="budget_round"),
]
