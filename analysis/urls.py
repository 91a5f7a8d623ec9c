from django.urls import path

from analysis import views

app_name = "analysis"

urlpatterns: list = [
    path("collections/<slug:name>/queries/", views.collection_queries, name="collection_queries"),
]
