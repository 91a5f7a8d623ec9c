from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "annotation"

    def ready(self) -> None:
        from analysis.seeding import reseed_after_flush
        from annotation.seeds import failure_categories_seed

        # The paper's failure categories survive a flush, like the judges' templates.
        reseed_after_flush(self, failure_categories_seed)
