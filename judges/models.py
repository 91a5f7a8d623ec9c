"""Endpoints, versioned prompt templates, LLM jobs and the call cache/audit trail.

An LLM is an assessor like any other: what a job learns is written into the analysis
tables (Judgment, Generation, PairwisePreference, ReasonProposal). This app keeps how
it was asked (endpoint, template, parameters) and every call that was made.
"""
from __future__ import annotations

import hashlib
import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from analysis.models import Collection, Query
from judges import endpoint_policy

PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class Endpoint(models.Model):
    """An OpenAI-compatible chat endpoint (Ollama's /v1, vLLM, OpenAI ...).

    The API key is never stored: ``api_key_env`` names the environment variable that
    holds it, read when the client is built. Which variables and hosts are allowed is
    the operator's choice (``judges.endpoint_policy``); ``clean`` applies it, so the
    admin's form refuses what the API and the web form refuse.
    """

    name = models.CharField(max_length=128, unique=True)
    base_url = models.URLField(max_length=500)
    model = models.CharField(max_length=200)
    parameters = models.JSONField(default=dict, blank=True, help_text="sent with every call, e.g. temperature")
    api_key_env = models.CharField(max_length=128, blank=True, help_text="NAME of the environment variable holding the key")
    rate_limit = models.FloatField(default=0, help_text="calls per second, 0 = unlimited")
    timeout = models.FloatField(default=60, help_text="seconds per call")
    max_attempts = models.PositiveSmallIntegerField(default=5)
    supports_logprobs = models.BooleanField(
        default=True,
        help_text="judge jobs ask for logprobs/top_logprobs of the answer (the grade probabilities); "
                  "turn off for a server that refuses the parameters (one that ignores them needs nothing)",
    )
    # Prices are optional and in whatever currency the operator enters them; a job's cost
    # (``judges.selectors.job_cost``) is known only for endpoints that have them.
    price_input = models.FloatField(null=True, blank=True, help_text="price per 1M input (prompt) tokens")
    price_output = models.FloatField(null=True, blank=True, help_text="price per 1M output (completion) tokens")
    batch_discount = models.FloatField(
        null=True, blank=True, help_text="fraction taken off the price of batch-mode calls, e.g. 0.5 for half price",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.model} @ {self.base_url})"

    def clean(self) -> None:
        errors = {}
        if self.base_url and (refusal := endpoint_policy.host_refusal(self.base_url)):
            errors["base_url"] = refusal
        if refusal := endpoint_policy.key_env_refusal(self.api_key_env):
            errors["api_key_env"] = refusal
        for field in ("price_input", "price_output"):
            if (value := getattr(self, field)) is not None and value < 0:
                errors[field] = "a price cannot be negative"
        if self.batch_discount is not None and not 0 <= self.batch_discount <= 1:
            errors["batch_discount"] = "a fraction between 0 and 1 (0.5 = half price)"
        if errors:
            raise ValidationError(errors)


class PromptKind(models.TextChoices):
    BINARY = "binary", "binary relevance"
    GRADED = "graded", "graded relevance 0-3"
    PAIRWISE = "pairwise", "pairwise preference"
    GENERATION = "generation", "passage generation"
    REASONS_H2R = "reasons_h2r", "failure reasons: hard to retrieve"
    REASONS_H2G = "reasons_h2g", "failure reasons: hard to generate"
    REASONS_H2J = "reasons_h2j", "failure reasons: hard to judge"
    CASCADE = "cascade", "relabeling cascade: which negatives answer the query"


# Placeholders each kind must contain, and those it may contain. Anything else in braces
# is an error when saved, so a typo such as {pasage} is caught before any call is paid.
REQUIRED_PLACEHOLDERS: dict[str, set[str]] = {
    PromptKind.BINARY: {"query", "passage"},
    PromptKind.GRADED: {"query", "passage"},
    PromptKind.PAIRWISE: {"query", "passage_a", "passage_b"},
    PromptKind.GENERATION: {"query"},
    PromptKind.REASONS_H2R: {"query"},
    PromptKind.REASONS_H2G: {"query"},
    PromptKind.REASONS_H2J: {"query"},
    PromptKind.CASCADE: {"query", "candidates"},
}
OPTIONAL_PLACEHOLDERS: dict[str, set[str]] = {
    PromptKind.BINARY: {"examples"},
    PromptKind.GRADED: {"examples"},
    PromptKind.PAIRWISE: set(),
    PromptKind.GENERATION: {"reasons", "examples"},
    PromptKind.REASONS_H2R: {"context", "previous_reasons"},
    PromptKind.REASONS_H2G: {"context", "previous_reasons"},
    PromptKind.REASONS_H2J: {"context", "previous_reasons"},
    PromptKind.CASCADE: {"positives"},
}


def template_placeholders(content: str) -> set[str]:
    """The ``{name}`` placeholders in a template text."""
    return set(PLACEHOLDER_RE.findall(content))


def template_problems(*, kind: str, content: str) -> list[str]:
    """What is wrong with a template's placeholders for its kind (empty when fine)."""
    found = template_placeholders(content)
    required = REQUIRED_PLACEHOLDERS.get(kind, set())
    allowed = required | OPTIONAL_PLACEHOLDERS.get(kind, set())
    problems = [f"missing placeholder {{{name}}}" for name in sorted(required - found)]
    problems += [f"unknown placeholder {{{name}}} for kind {kind}" for name in sorted(found - allowed)]
    return problems


class PromptTemplate(models.Model):
    """One version of a prompt. Versions are immutable data: a change is a new version."""

    name = models.CharField(max_length=128)
    version = models.PositiveIntegerField(default=1)
    kind = models.CharField(max_length=16, choices=PromptKind.choices)
    content = models.TextField()
    examples = models.TextField(blank=True, help_text="few-shot text filled into {examples}")
    system = models.TextField(blank=True, help_text="optional system message")
    content_hash = models.CharField(max_length=64, editable=False)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="uniq_template_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.kind})"

    def compute_hash(self) -> str:
        payload = "\x1f".join([self.kind, self.system, self.content, self.examples])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def clean(self) -> None:
        problems = template_problems(kind=self.kind, content=self.content)
        if problems:
            raise ValidationError({"content": problems})

    def save(self, *args, **kwargs) -> None:
        # Placeholders are checked on every save (admin, command or code), not only in forms.
        self.clean()
        self.content_hash = self.compute_hash()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = set(kwargs["update_fields"]) | {"content_hash"}
        super().save(*args, **kwargs)


class JobKind(models.TextChoices):
    JUDGE = "judge", "relevance judging"
    GENERATE = "generate", "passage generation"
    PAIRWISE = "pairwise", "pairwise preference"
    REASONS = "reasons", "failure reasons"
    RELABEL = "relabel", "relabeling cascade"
    PROBE = "probe", "probes of a judge"


class LLMJob(models.Model):
    """A batch of LLM work: one task, one endpoint, one template, one item set."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STATUS_CHOICES = [(s, s) for s in (PENDING, RUNNING, DONE, FAILED, CANCELLED)]

    kind = models.CharField(max_length=16, choices=JobKind.choices)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="jobs")
    endpoint2 = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="the strong stage-2 endpoint of a relabeling cascade",
    )
    template = models.ForeignKey(PromptTemplate, on_delete=models.PROTECT, related_name="jobs")
    collection = models.ForeignKey(Collection, null=True, blank=True, on_delete=models.CASCADE, related_name="llm_jobs")
    assessor = models.ForeignKey(
        "analysis.Assessor", null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_jobs"
    )
    item_spec = models.JSONField(default=dict, blank=True, help_text="which items: source assessor, limit, task ...")
    samples = models.PositiveSmallIntegerField(default=1)
    concurrency = models.PositiveSmallIntegerField(default=16, help_text="calls in flight, all runners together")
    runners = models.PositiveSmallIntegerField(
        default=1, help_text="Celery tasks working on the job at once (each gets concurrency / runners)"
    )
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=PENDING)
    total = models.IntegerField(default=0)
    done = models.IntegerField(default=0, help_text="items with a valid result")
    invalid = models.IntegerField(default=0, help_text="answered, but the answer could not be parsed")
    failed = models.IntegerField(default=0, help_text="no answer after every attempt")
    calls = models.IntegerField(default=0, help_text="calls made (cache misses), retries included")
    cached = models.IntegerField(default=0, help_text="answers taken from the call cache")
    tokens = models.BigIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True, help_text="e.g. calls and tokens per cascade stage")
    batch = models.BooleanField(
        default=False, help_text="batch mode: the calls go to the endpoint's Batch API (judges.batch), not one by one",
    )
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} ({self.status})"

    @property
    def finished_items(self) -> int:
        return self.done + self.invalid + self.failed


class LLMJobItem(models.Model):
    """One unit of a job (a query-passage pair, a query, a training example)."""

    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"
    INVALID = "invalid"
    FAILED = "failed"
    STATUS_CHOICES = [(s, s) for s in (PENDING, CLAIMED, DONE, INVALID, FAILED)]
    FINISHED = (DONE, INVALID, FAILED)

    job = models.ForeignKey(LLMJob, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=300, help_text="e.g. qid<TAB>docid")
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=PENDING)
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="uniq_job_item")]
        indexes = [models.Index(fields=["job", "status"])]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.key} ({self.status})"


class LLMCall(models.Model):
    """One call to an LLM: the cache (successful calls) and the audit trail (all calls).

    The cache key is the sha256 of (model, template hash, parameters, sample index,
    inputs); it is unique among successful calls, while failed attempts are kept as
    extra rows with their error.
    """

    cache_key = models.CharField(max_length=64, db_index=True)
    job = models.ForeignKey(LLMJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_calls")
    endpoint = models.ForeignKey(Endpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(max_length=200)
    template_hash = models.CharField(max_length=64, blank=True)
    sample = models.PositiveSmallIntegerField(default=0)
    stage = models.PositiveSmallIntegerField(default=1)
    request = models.JSONField(default=dict)
    raw_response = models.TextField(blank=True)
    parsed = models.JSONField(null=True, blank=True)
    prompt_tokens = models.IntegerField(default=0)
    completion_tokens = models.IntegerField(default=0)
    latency_ms = models.IntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=1)
    error = models.TextField(blank=True)
    # The endpoint's top_logprobs at the answer's grade token, as sent ([{"token", "logprob"}]),
    # null when none were asked or returned; a cached answer gives its probabilities from it.
    logprobs = models.JSONField(null=True, blank=True)
    # The batch that answered (or failed) this call; null for an online call.
    batch = models.ForeignKey("LLMBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_calls")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["cache_key"], condition=Q(error=""), name="uniq_llmcall_cache_key"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.cache_key[:12]}"

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLMBatch(models.Model):
    """One batch of a batch-mode job at the endpoint's Batch API (``judges.batch``).

    ``status`` is the remote one (OpenAI's words); ``custom_ids`` are the cache keys
    sent (one request per key, at most ``HARDQ_LLM_BATCH_MAX_REQUESTS``), so a key in an
    open batch is never sent twice. ``ingested``: its output and error files were read
    and every answer stored as an ``LLMCall``.
    """

    OPEN = ("validating", "in_progress", "finalizing", "cancelling")
    FINAL = ("completed", "failed", "expired", "cancelled")

    job = models.ForeignKey(LLMJob, on_delete=models.CASCADE, related_name="batches")
    endpoint = models.ForeignKey(Endpoint, null=True, on_delete=models.SET_NULL, related_name="+")
    remote_id = models.CharField(max_length=200)
    input_file_id = models.CharField(max_length=200)
    output_file_id = models.CharField(max_length=200, blank=True)
    error_file_id = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, default="validating")
    custom_ids = models.JSONField(default=list)
    total = models.IntegerField(default=0, help_text="requests sent")
    completed = models.IntegerField(default=0, help_text="the endpoint's count of answered requests")
    failed = models.IntegerField(default=0, help_text="the endpoint's count of failed requests")
    answered = models.IntegerField(default=0, help_text="answers stored from the output file")
    errors = models.IntegerField(default=0, help_text="lines of the error file (retried, or failed for good)")
    ingested = models.BooleanField(default=False)
    error = models.TextField(blank=True, help_text="why the endpoint refused the whole batch")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "id"]

    def __str__(self) -> str:
        return f"batch {self.remote_id} of job {self.job_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class TrainingSet(models.Model):
    """Training examples (query, positives, hard negatives) for the relabeling cascade."""

    name = models.CharField(max_length=200, unique=True)
    collection = models.ForeignKey(Collection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=500, blank=True, help_text="file name, or qrels+run it was built from")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class TrainingExample(models.Model):
    """One example; passages are ``{"docid", "title", "text"}`` dicts as in Tevatron JSONL."""

    training_set = models.ForeignKey(TrainingSet, on_delete=models.CASCADE, related_name="examples")
    qid = models.CharField(max_length=64, help_text="query_id in Tevatron files")
    query_text = models.TextField()
    query = models.ForeignKey(Query, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    positives = models.JSONField(default=list)
    negatives = models.JSONField(default=list)

    class Meta:
        ordering = ["training_set", "id"]
        constraints = [models.UniqueConstraint(fields=["training_set", "qid"], name="uniq_training_example")]


class RelabelDecision(models.Model):
    """What the cascade decided about one hard negative of one example.

    Only negatives stage 1 flagged reach stage 2; ``decided_stage`` says which stage
    settled the label. Decisions with ``action`` other than ``kept`` are what a human
    verification campaign ("verify cascade relabels") selects.
    """

    KEPT = "kept"
    MOVED = "moved"
    REMOVED = "removed"
    ACTION_CHOICES = [(KEPT, "kept as negative"), (MOVED, "moved to positives"), (REMOVED, "removed")]

    job = models.ForeignKey(LLMJob, on_delete=models.CASCADE, related_name="relabel_decisions")
    example = models.ForeignKey(TrainingExample, on_delete=models.CASCADE, related_name="decisions")
    docid = models.CharField(max_length=128)
    stage1_flag = models.BooleanField(default=False)
    stage2_flag = models.BooleanField(null=True, blank=True)
    decided_stage = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=8, choices=ACTION_CHOICES)

    class Meta:
        ordering = ["job", "example", "docid"]
        constraints = [models.UniqueConstraint(fields=["job", "example", "docid"], name="uniq_relabel_decision")]


class ProbeText(models.Model):
    """One version of a probe's wording (``judges.probe_texts``): immutable, like a prompt.

    ``content`` is how the modified passage is made (``{passage}``, ``{query_words}``,
    ``{first_sentence}``); the position probe's is empty (it swaps the two passages).
    """

    name = models.CharField(max_length=32)
    version = models.PositiveIntegerField(default=1)
    content = models.TextField(blank=True)
    description = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="uniq_probe_text_version")]

    def __str__(self) -> str:
        return f"probe {self.name} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        self.content_hash = hashlib.sha256(self.content.encode("utf-8")).hexdigest()
        super().save(*args, **kwargs)


class ProbeResult(models.Model):
    """What one probe of one job found: of ``n`` probed pairs that could flip, ``flipped`` did.

    ``sampled`` pairs were asked; those whose own grade was already at the end of the
    scale the probe pushes towards (3 for stuffing/injection, 0 for truncation) cannot
    flip and are counted in ``at_ceiling``, not in ``n``; unanswered or unreadable ones
    in neither. The rate's 95% interval is Wilson's (statsmodels ``proportion_confint``).
    Kept up to date by the probe job's writes, batch by batch.
    """

    assessor = models.ForeignKey("analysis.Assessor", on_delete=models.CASCADE, related_name="probe_results")
    reference = models.ForeignKey("analysis.Assessor", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    job = models.ForeignKey(LLMJob, on_delete=models.CASCADE, related_name="probe_results")
    probe = models.CharField(max_length=32)
    version = models.PositiveIntegerField(default=1, help_text="the ProbeText version used")
    sampled = models.IntegerField(default=0)
    n = models.IntegerField(default=0, help_text="probed pairs that could flip, answered")
    flipped = models.IntegerField(default=0)
    at_ceiling = models.IntegerField(default=0)
    flip_rate = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assessor", "probe", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["job", "probe"], name="uniq_probe_result")]

    def __str__(self) -> str:
        return f"{self.assessor_id} {self.probe} v{self.version}: {self.flipped}/{self.n}"
