from django.urls import include, path

from analysis import hardness_views, views

app_name = "analysis"

urlpatterns: list = [
    path("", hardness_views.hardness_list, name="hardness_list"),
    path("budget/", include("analysis.estimation_urls")),
    path("collections/<collection:name>/queries/", views.collection_queries, name="collection_queries"),
    path("hardness/<int:analysis_id>/", hardness_views.analysis_detail, name="hardness_detail"),
    path("hardness/<int:analysis_id>/distribution.svg", hardness_views.analysis_distribution_svg,
         name="hardness_distribution"),
    path("<collection:collection>/overlap/", hardness_views.overlap_page, name="hardness_overlap"),
    path("<collection:collection>/overlap.svg", hardness_views.overlap_svg, name="hardness_overlap_svg"),
    path("<collection:collection>/overlap.csv", hardness_views.overlap_csv, name="hardness_overlap_csv"),
    path("<collection:collection>/overlap.json", hardness_views.overlap_json, name="hardness_overlap_json"),
]

urlpatterns += [
    path("collections/<collection:name>/pairwise/", views.pairwise, name="pairwise"),
    path("collections/<collection:name>/queries.csv", views.collection_queries_csv, name="collection_queries_csv"),
    # Reversed by name from other apps' pages (agreement, campaign review): keep the name.
    path("collections/<collection:collection>/queries/<path:qid>/", views.query_detail, name="query-detail"),
]
