from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _seed_default_templates(sender, apps=None, **kwargs) -> None:
    """Put the default prompt templates back after a flush.

    The data migration seeds them once; `flush` (which every transactional test runs
    after itself) empties the table and then sends post_migrate, so seeding here too
    keeps them for whatever comes next. Idempotent: get_or_create on (name, version 1).
    """
    import importlib

    from django.apps import apps as installed_apps

    seed = importlib.import_module("judges.migrations.0002_seed_default_templates").seed
    # migrate passes its project state; flush passes none: the installed models then.
    seed(apps or installed_apps, None)


class JudgesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "judges"

    def ready(self) -> None:
        post_migrate.connect(_seed_default_templates, sender=self, dispatch_uid="judges_seed_default_templates")
