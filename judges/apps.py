from django.apps import AppConfig


class JudgesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "judges"

    def ready(self) -> None:
        from analysis.seeding import reseed_after_flush
        from judges.seeds import default_templates_seed, probe_texts_seed

        # The default prompt templates survive a flush (transactional tests).
        reseed_after_flush(self, default_templates_seed)
        reseed_after_flush(self, probe_texts_seed)
