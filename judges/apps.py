from django.apps import AppConfig


class JudgesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "judges"

    def ready(self) -> None:
        from analysis.seeding import reseed_after_flush

        # The default prompt templates survive a flush (transactional tests).
        reseed_after_flush(self, "judges.migrations.0002_seed_default_templates")
