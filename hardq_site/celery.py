"""The Celery app: the distributed engine for analyzers and LLM judge jobs."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hardq_site.settings")

app = Celery("hardq")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
