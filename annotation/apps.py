from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "annotation"

    def ready(self) -> None:
        from django.db import transaction
        from django.db.models.signals import post_delete, post_migrate, post_save

        from analysis.models import FailureCategory
        from analysis.seeding import reseed_after_flush
        from annotation.seeds import failure_categories_seed
        from annotation.selectors import failure_categories_forget

        # The paper's failure categories survive a flush, like the judges' templates.
        reseed_after_flush(self, failure_categories_seed)

        # The screens' cached taxonomy (annotation.selectors) goes when it changes; again
        # at the commit, so that a request in between cannot keep the old list.
        def categories_changed(**kwargs: object) -> None:
            failure_categories_forget()
            transaction.on_commit(failure_categories_forget)

        post_save.connect(categories_changed, sender=FailureCategory, weak=False, dispatch_uid="categories-saved")
        post_delete.connect(categories_changed, sender=FailureCategory, weak=False, dispatch_uid="categories-deleted")
        post_migrate.connect(failure_categories_forget, weak=False, dispatch_uid="categories-migrated")
