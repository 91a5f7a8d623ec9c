from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "annotation"

    def ready(self) -> None:
        from django.db import transaction
        from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

        from analysis.models import FailureCategory
        from analysis.seeding import reseed_after_flush
        from annotation.seeds import failure_categories_seed
        from annotation.models import Campaign
        from annotation.selectors import annotator_count_forget, failure_categories_forget

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

        # The progress bar's cached annotator count goes when a campaign's annotators change.
        def annotators_changed(*, instance: object, reverse: bool, pk_set: set[int] | None, action: str,
                               **kwargs: object) -> None:
            if action not in {"post_add", "post_remove", "pre_clear", "post_clear"}:
                return
            if reverse:  # from the user's side: pk_set names the campaigns (None for a clear, read before it)
                ids = list(pk_set or Campaign.objects.filter(annotators=instance).values_list("pk", flat=True))
            else:
                ids = [instance.pk]  # type: ignore[attr-defined]
            annotator_count_forget(campaign_ids=ids)
            transaction.on_commit(lambda: annotator_count_forget(campaign_ids=ids))

        m2m_changed.connect(annotators_changed, sender=Campaign.annotators.through, weak=False,
                            dispatch_uid="campaign-annotators-changed")
