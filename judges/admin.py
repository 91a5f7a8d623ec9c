"""Admin for every judges model: endpoints, templates, jobs with their counts, the call audit trail."""
from django.contrib import admin

from judges import endpoint_policy

from judges.models import Endpoint, LLMBatch, LLMCall, LLMJob, LLMJobItem, PromptTemplate, RelabelDecision, TrainingExample, TrainingSet


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "model", "base_url", "api_key_env", "rate_limit", "timeout", "max_attempts", "price_input",
                    "price_output", "batch_discount"]
    search_fields = ["name", "model", "base_url"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Endpoint.clean refuses what the operator did not allow; say what is allowed up front.
        form = super().get_form(request, obj, change=change, **kwargs)
        allowed = ", ".join(endpoint_policy.allowed_key_envs())
        form.base_fields["api_key_env"].help_text = f"NAME of the environment variable holding the key; allowed: {allowed}"
        return form


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "kind", "content_hash", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "content_hash"]
    readonly_fields = ["content_hash"]


@admin.register(LLMJob)
class LLMJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "assessor", "total", "done", "invalid", "failed", "calls", "cached", "tokens", "created_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["assessor"]
    raw_id_fields = ["collection", "assessor", "created_by"]
    readonly_fields = ["total", "done", "invalid", "failed", "calls", "cached", "tokens", "stats", "started_at",
                       "finished_at", "heartbeat_at"]


@admin.register(LLMJobItem)
class LLMJobItemAdmin(admin.ModelAdmin):
    list_display = ["job", "key", "status", "attempts", "error"]
    list_filter = ["status"]
    search_fields = ["key", "error"]
    raw_id_fields = ["job"]


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ["id", "model", "cache_key", "stage", "sample", "prompt_tokens", "completion_tokens", "latency_ms", "error", "created_at"]
    list_filter = ["model", "stage"]
    search_fields = ["=cache_key", "model"]
    raw_id_fields = ["job", "endpoint"]


@admin.register(TrainingSet)
class TrainingSetAdmin(admin.ModelAdmin):
    list_display = ["name", "collection", "source", "created_at"]


@admin.register(TrainingExample)
class TrainingExampleAdmin(admin.ModelAdmin):
    list_display = ["training_set", "qid", "query_text"]
    search_fields = ["qid", "query_text"]
    raw_id_fields = ["training_set", "query"]


@admin.register(RelabelDecision)
class RelabelDecisionAdmin(admin.ModelAdmin):
    list_display = ["job", "example", "docid", "stage1_flag", "stage2_flag", "decided_stage", "action"]
    list_filter = ["action", "decided_stage"]
    raw_id_fields = ["job", "example"]


@admin.register(LLMBatch)
class LLMBatchAdmin(admin.ModelAdmin):
    list_display = ["remote_id", "job", "status", "total", "completed", "failed", "answered", "errors", "ingested",
                    "created_at", "finished_at"]
    list_filter = ["status"]
    raw_id_fields = ["job", "endpoint"]
    exclude = ["custom_ids"]
