"""Data that a migration seeds, put back after a flush.

A data migration seeds rows once (prompt templates, the failure taxonomy); ``flush``,
which every transactional test runs after itself, empties the tables and then sends
``post_migrate``. Re-running the migration's idempotent seed function on that signal
keeps the rows for whatever comes next.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import AppConfig
from django.apps import apps as installed_apps
from django.db.models.signals import post_migrate

# A data migration's forward function: (app registry, schema editor or None).
Seed = Callable[[Any, Any], None]


def reseed_after_flush(app_config: AppConfig, seed: Seed) -> None:
    """Run ``seed(apps, None)`` on every post_migrate of ``app_config``.

    ``seed`` is the function the data migration runs (kept in the app's ``seeds``
    module, which the migration imports), and must be idempotent (get_or_create).
    migrate passes its project state; flush passes none, so the installed models are
    used then.
    """

    def _reseed(sender: AppConfig, apps: Any = None, **kwargs: Any) -> None:
        seed(apps or installed_apps, None)

    post_migrate.connect(_reseed, sender=app_config, weak=False, dispatch_uid=f"reseed:{seed.__module__}.{seed.__name__}")
