"""Pages of budgeted evaluation, included under /analysis/ (namespace ``budget``)."""
from django.urls import path

from analysis import estimation_views

app_name = "budget"

urlpatterns = [
    path("estimate/", estimation_views.estimate_page, name="estimate"),
    path("simulate/", estimation_views.simulate_page, name="simulate"),
]
