"""The REST API under /api/: the schema and its docs are public, everything else needs a user.

Each app's endpoints live in its ``apis.py``; this module only routes them.
"""
from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from analysis import apis as analysis_apis
from analysis import estimation_apis
from annotation import apis as annotation_apis
from annotation import report_apis
from judges import apis as judges_apis

router = SimpleRouter()
router.register("collections", analysis_apis.CollectionViewSet, basename="collection")
router.register("queries", analysis_apis.QueryViewSet, basename="query")
router.register("passages", analysis_apis.PassageViewSet, basename="passage")
router.register("assessors", analysis_apis.AssessorViewSet, basename="assessor")
router.register("judgments", analysis_apis.JudgmentViewSet, basename="judgment")
router.register("runs", analysis_apis.RunViewSet, basename="run")
router.register("analyses", analysis_apis.HardnessAnalysisViewSet, basename="analysis")
router.register("llm-jobs", judges_apis.LLMJobViewSet, basename="llm-job")
router.register("campaigns", annotation_apis.CampaignViewSet, basename="campaign")
router.register("assignments", annotation_apis.AssignmentViewSet, basename="assignment")

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    # Swagger UI's start script comes from docs/?script, not inline (script-src 'self').
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema", permission_classes=[AllowAny]), name="docs"),
    # Redoc writes its styles into <style> elements and renders in a blob: worker: its
    # page alone gets those two sources on top of the site's policy.
    path(
        "redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="api:schema", permission_classes=[AllowAny])
        ),
        name="redoc",
    ),
    path("imports/", analysis_apis.ImportApi.as_view(), name="imports"),
    path("imports/bundle/", analysis_apis.BundleImportApi.as_view(), name="imports-bundle"),
    path("agreement/", report_apis.AgreementApi.as_view(), name="agreement"),
    path("agreement/report/", report_apis.AgreementReportApi.as_view(), name="agreement-report"),
    path("estimate/", estimation_apis.EstimateApi.as_view(), name="estimate"),
    path("collections/<collection:name>/overlap/", analysis_apis.OverlapApi.as_view(), name="overlap"),
    path("collections/<collection:name>/export/", analysis_apis.ExportApi.as_view(), name="export"),
    path("collections/<collection:name>/pairwise/", analysis_apis.PairwiseApi.as_view(), name="pairwise"),
    path("assessors/<path:name>/card/", judges_apis.JudgeCardApi.as_view(), name="assessor-card"),
    path("judges/leaderboard/", judges_apis.LeaderboardApi.as_view(), name="judges-leaderboard"),
    path("pairwise/", analysis_apis.PairwiseResultsApi.as_view(), name="pairwise_results"),
    path("assessors/<str:name>/probes/", judges_apis.AssessorProbesApi.as_view(), name="assessor-probes"),
    path("", include(router.urls)),
]
