"""The admin for the corpus and every pipeline output, tuned for researchers.

Changelists stay fast on 100k-row tables: foreign keys are ``raw_id_fields`` (no
select boxes of every passage), ``list_select_related`` fetches what the columns
show in the same query, and search goes through exact-id prefixes or text.
Import sources are read only: they are the record of what was imported.
"""
from __future__ import annotations

from django.contrib import admin

from analysis import models
from analysis.judgments import JudgmentRow, judgments_delete, judgments_write


@admin.register(models.Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "corpus", "created_at"]
    search_fields = ["name", "corpus", "description"]


@admin.register(models.Query)
class QueryAdmin(admin.ModelAdmin):
    list_display = ["qid", "collection", "text"]
    list_filter = ["collection"]
    search_fields = ["=qid", "text"]
    list_select_related = ["collection"]
    ordering = ["collection", "qid"]


class HasTextFilter(admin.SimpleListFilter):
    title = "text"
    parameter_name = "has_text"

    def lookups(self, request, model_admin):
        return [("yes", "with text"), ("no", "docid only")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(text__isnull=False)
        if self.value() == "no":
            return queryset.filter(text__isnull=True)
        return queryset


@admin.register(models.Passage)
class PassageAdmin(admin.ModelAdmin):
    list_display = ["docid", "collection", "short_text"]
    list_filter = ["collection", HasTextFilter]
    search_fields = ["=docid", "text"]
    list_select_related = ["collection"]
    show_full_result_count = False  # COUNT(*) over every passage on each page is the slow part

    @admin.display(description="text")
    def short_text(self, obj: models.Passage) -> str:
        if obj.text is None:
            return "(no text imported)"
        return obj.text if len(obj.text) <= 120 else obj.text[:120] + "…"


@admin.register(models.Assessor)
class AssessorAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "scale", "model", "prompt_template", "prompt_version", "user"]
    list_filter = ["kind", "scale"]
    search_fields = ["name", "model"]
    raw_id_fields = ["user"]
    list_select_related = ["user"]


@admin.register(models.ImportSource)
class ImportSourceAdmin(admin.ModelAdmin):
    list_display = ["kind", "collection", "label", "filename", "rows", "created", "updated", "skipped", "imported_at"]
    list_filter = ["kind", "collection"]
    search_fields = ["label", "filename", "sha256"]
    list_select_related = ["collection"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["qid", "docid", "assessor", "grade", "valid", "collection"]
    list_filter = ["query__collection", "assessor", "assessor__kind", "grade", "valid"]
    search_fields = ["=query__qid", "=passage__docid", "query__text"]
    raw_id_fields = ["query", "passage", "assessor", "source"]
    list_select_related = ["query__collection", "passage", "assessor"]
    show_full_result_count = False

    # Edits go through the one write path (analysis.judgments), after the form has checked
    # what an import checks (Judgment.clean: the grade on the assessor's scale, the
    # passage in the query's collection).
    def save_model(self, request, obj: models.Judgment, form, change) -> None:
        if change and {"query", "passage", "assessor"} & set(form.changed_data):
            old = models.Judgment.objects.get(pk=obj.pk)
            judgments_delete(assessor=old.assessor, pairs=[(old.query_id, old.passage_id)])
        row = JudgmentRow(
            query_id=obj.query_id, passage_id=obj.passage_id, grade=obj.grade, valid=obj.valid,
            raw_response=obj.raw_response, probabilities=obj.probabilities,
        )
        judgments_write(assessor=obj.assessor, rows=[row], source=obj.source)
        obj.pk = models.Judgment.objects.values_list("pk", flat=True).get(
            assessor=obj.assessor, query_id=obj.query_id, passage_id=obj.passage_id
        )

    def delete_model(self, request, obj: models.Judgment) -> None:
        judgments_delete(assessor=obj.assessor, pairs=[(obj.query_id, obj.passage_id)])

    def delete_queryset(self, request, queryset) -> None:
        by_assessor: dict[int, list[tuple[int, int]]] = {}
        for assessor_id, query_id, passage_id in queryset.values_list("assessor_id", "query_id", "passage_id"):
            by_assessor.setdefault(assessor_id, []).append((query_id, passage_id))
        for assessor in models.Assessor.objects.filter(pk__in=by_assessor):
            judgments_delete(assessor=assessor, pairs=by_assessor[assessor.pk])

    @admin.display(description="qid", ordering="query__qid")
    def qid(self, obj: models.Judgment) -> str:
        return obj.query.qid

    @admin.display(description="docid", ordering="passage__docid")
    def docid(self, obj: models.Judgment) -> str:
        return obj.passage.docid

    @admin.display(description="collection")
    def collection(self, obj: models.Judgment) -> str:
        return obj.query.collection.name


@admin.register(models.System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]


@admin.register(models.Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["system", "collection", "tag", "created_at"]
    list_filter = ["collection", "system"]
    raw_id_fields = ["source"]
    list_select_related = ["system", "collection"]


@admin.register(models.RunRow)
class RunRowAdmin(admin.ModelAdmin):
    list_display = ["run", "qid", "rank", "docid", "score"]
    list_filter = ["run__collection", "run__system"]
    search_fields = ["=query__qid", "=passage__docid"]
    raw_id_fields = ["run", "query", "passage"]
    list_select_related = ["run__system", "run__collection", "query", "passage"]
    show_full_result_count = False
    # A run row is a plain row: saved and deleted by the ORM, validated by RunRow.clean
    # (query and passage of the run's collection) and the rank column's range.

    @admin.display(description="qid", ordering="query__qid")
    def qid(self, obj: models.RunRow) -> str:
        return obj.query.qid

    @admin.display(description="docid", ordering="passage__docid")
    def docid(self, obj: models.RunRow) -> str:
        return obj.passage.docid


@admin.register(models.Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["query", "generator", "setting", "short_text"]
    list_filter = ["query__collection", "generator", "setting"]
    search_fields = ["=query__qid", "query__text", "text"]
    raw_id_fields = ["query", "generator", "source"]
    list_select_related = ["query__collection", "generator"]

    @admin.display(description="text")
    def short_text(self, obj: models.Generation) -> str:
        return obj.text if len(obj.text) <= 120 else obj.text[:120] + "…"


@admin.register(models.BertScore)
class BertScoreAdmin(admin.ModelAdmin):
    list_display = ["query", "generator", "setting", "passage", "precision", "recall", "f1", "origin"]
    list_filter = ["query__collection", "generator", "setting", "origin", "model_id"]
    search_fields = ["=query__qid", "=passage__docid"]
    raw_id_fields = ["query", "generator", "generation", "passage", "source"]
    list_select_related = ["query__collection", "generator", "passage__collection"]
    show_full_result_count = False


@admin.register(models.PairwisePreference)
class PairwisePreferenceAdmin(admin.ModelAdmin):
    list_display = ["query", "passage", "assessor", "label"]
    list_filter = ["query__collection", "assessor", "label"]
    search_fields = ["=query__qid", "=passage__docid"]
    raw_id_fields = ["query", "passage", "assessor", "generation", "source"]
    list_select_related = ["query__collection", "passage__collection", "assessor"]


@admin.register(models.FailureCategory)
class FailureCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "position", "description"]
    search_fields = ["name", "description"]
    ordering = ["position", "name"]


class ReasonInline(admin.TabularInline):
    model = models.Reason
    extra = 0
    raw_id_fields = ["category"]


@admin.register(models.ReasonProposal)
class ReasonProposalAdmin(admin.ModelAdmin):
    list_display = ["query", "task", "assessor", "label"]
    list_filter = ["task", "query__collection", "assessor"]
    search_fields = ["=query__qid", "query__text", "label", "reasons__text"]
    raw_id_fields = ["query", "assessor", "source"]
    list_select_related = ["query__collection", "assessor"]
    inlines = [ReasonInline]


@admin.register(models.Reason)
class ReasonAdmin(admin.ModelAdmin):
    list_display = ["text", "position", "category", "proposal"]
    list_filter = ["category", "proposal__task", "proposal__query__collection"]
    search_fields = ["text", "=proposal__query__qid"]
    raw_id_fields = ["proposal", "category"]
    list_select_related = ["category", "proposal__query__collection", "proposal__assessor"]


class HardnessLabelInline(admin.TabularInline):
    model = models.HardnessLabel
    extra = 0
    raw_id_fields = ["query"]


@admin.register(models.HardnessAnalysis)
class HardnessAnalysisAdmin(admin.ModelAdmin):
    list_display = ["task", "collection", "subject", "variant", "measure", "quantile", "threshold", "origin", "status"]
    list_filter = ["task", "collection", "origin", "status"]
    search_fields = ["subject", "measure"]
    list_select_related = ["collection"]
    inlines = [HardnessLabelInline]


@admin.register(models.HardnessLabel)
class HardnessLabelAdmin(admin.ModelAdmin):
    list_display = ["analysis", "query", "value", "hard", "status"]
    list_filter = ["hard", "status", "analysis__task", "analysis__collection"]
    search_fields = ["=query__qid"]
    raw_id_fields = ["analysis", "query"]
    list_select_related = ["analysis__collection", "query__collection"]
