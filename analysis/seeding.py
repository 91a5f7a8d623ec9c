"""Data that a migration seeds, put back after a flush.

A data migration seeds rows once (prompt templates, the failure taxonomy); ``flush``,
which every transactional test runs after itself, empties the tables and then sends
``post_migrate``. Re-running the migration's idempotent seed function on that signal
keeps the rows for whatever comes next.
"""
from __future__ import annotations

import importlib

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def reseed_after_flush(app_config: AppConfig, migration_module: str) -> None:
    """Run ``migration_module.seed(apps, None)`` on every post_migrate of ``app_config``.

    The seed must be idempotent (get_or_create). migrate passes its project state; flush
    passes none, so the installed models are used then.
    """

    def _reseed(sender, apps=None, **kwargs) -> None:
        from django.apps import apps as installed_apps

        importlib.import_module(migration_module).seed(apps or installed_apps, None)

    post_migrate.connect(_reseed, sender=app_config, weak=False, dispatch_uid=f"reseed:{migration_module}")
