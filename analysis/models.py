"""The corpus, every pipeline output, and the hardness measures.

Central idea: every label has an assessor. NIST's qrels ("official"), each LLM judge
file and every human annotator are Assessors of the one Judgment table, so agreement,
the H2J finder and the human studies are the same query over different assessors.
Ids from the pipelines (qid, docid) are kept as strings: leading zeros are never lost.
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

# The one rule for a collection's name: the importers, the API, the admin and the URL
# converter (``analysis.converters``) all use it, so every stored name has pages.
COLLECTION_NAME_MAX_LENGTH = 64
COLLECTION_NAME_PATTERN = rf"[a-z0-9][a-z0-9_.-]{{0,{COLLECTION_NAME_MAX_LENGTH - 1}}}"
COLLECTION_NAME_RULE = (
    f"1 to {COLLECTION_NAME_MAX_LENGTH} lowercase letters, digits, '_', '.' or '-', "
    "starting with a letter or a digit (e.g. dl19)"
)
validate_collection_name = RegexValidator(
    rf"\A{COLLECTION_NAME_PATTERN}\Z", f"A collection name is {COLLECTION_NAME_RULE}.", code="invalid_collection_name"
)


class Collection(models.Model):
    """A test collection (dl19, dl21, ...): its queries, its corpus, its outputs."""

    name = models.CharField(max_length=COLLECTION_NAME_MAX_LENGTH, unique=True, validators=[validate_collection_name],
                            help_text=COLLECTION_NAME_RULE)
    corpus = models.CharField(max_length=128, blank=True, help_text="e.g. msmarco-v1-passage")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Query(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="queries")
    qid = models.CharField(max_length=64)
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["collection", "qid"]
        constraints = [models.UniqueConstraint(fields=["collection", "qid"], name="uniq_query_qid")]
        verbose_name_plural = "queries"

    def __str__(self) -> str:
        return f"{self.collection.name}:{self.qid}"


class Passage(models.Model):
    """A passage of a collection's corpus.

    Qrels, runs and judgments may name docids whose text was never imported: such a
    passage exists with ``text=None`` so that the label is kept; only passages with
    text count as passages in the inventory.
    """

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="passages")
    docid = models.CharField(max_length=128)
    text = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["collection", "docid"]
        constraints = [models.UniqueConstraint(fields=["collection", "docid"], name="uniq_passage_docid")]

    def __str__(self) -> str:
        return f"{self.collection.name}:{self.docid}"

    @property
    def has_text(self) -> bool:
        return self.text is not None


class Assessor(models.Model):
    """Anyone or anything that labels: official qrels, an LLM, a human annotator."""

    OFFICIAL = "official"
    LLM = "llm"
    HUMAN = "human"
    KIND_CHOICES = [(OFFICIAL, "official qrels"), (LLM, "LLM"), (HUMAN, "human")]

    GRADED = "graded"
    BINARY = "binary"
    SCALE_CHOICES = [(GRADED, "graded 0-3"), (BINARY, "binary 0/1")]
    # The grades each scale holds: what the qrels importer accepts, and the admin too.
    SCALE_GRADES = {GRADED: (0, 1, 2, 3), BINARY: (0, 1)}

    name = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    scale = models.CharField(max_length=8, choices=SCALE_CHOICES, default=GRADED)
    model = models.CharField(max_length=128, blank=True, help_text="LLM model id, e.g. llama3.2:latest")
    prompt_template = models.CharField(max_length=128, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assessor"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportSource(models.Model):
    """One imported file: what it was, where it went, and its fingerprint.

    The identity of a source is (kind, collection, label): the same qrels file of the
    same assessor imported again is recognised, ``--replace`` replaces its rows.
    """

    kind = models.CharField(max_length=32)
    collection = models.ForeignKey(Collection, null=True, blank=True, on_delete=models.CASCADE, related_name="imports")
    label = models.CharField(max_length=200, help_text="assessor, system or generator the file belongs to")
    filename = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    options = models.JSONField(default=dict, blank=True)
    rows = models.IntegerField(default=0)
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-imported_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "collection", "label"], name="uniq_import_source")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.label} ({self.filename})"


class Judgment(models.Model):
    """A relevance label of one (query, passage) by one assessor.

    ``grade`` is 0..3 on the graded scale and 0/1 on the binary one. An LLM answer that
    could not be parsed is kept with ``valid=False`` and ``grade=None`` and its raw text,
    never silently as grade 0.

    Written only through ``analysis.judgments`` (``judgments_write`` /
    ``judgments_delete``): that is what keeps the agreement copies (``LabelArray``) fresh.
    """

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="judgments")
    passage = models.ForeignKey(Passage, on_delete=models.CASCADE, related_name="judgments")
    assessor = models.ForeignKey(Assessor, on_delete=models.CASCADE, related_name="judgments")
    grade = models.SmallIntegerField(null=True, blank=True)
    valid = models.BooleanField(default=True)
    raw_response = models.TextField(blank=True)
    probabilities = models.JSONField(
        null=True, blank=True, help_text="the assessor's probability of each grade (index = grade), when it gave them"
    )
    source = models.ForeignKey(ImportSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessor", "query", "passage"], name="uniq_judgment"),
        ]
        indexes = [models.Index(fields=["query", "passage"])]

    def __str__(self) -> str:
        return f"{self.assessor.name} {self.query.qid} {self.passage.docid} -> {self.grade}"

    def clean(self) -> None:
        """What an import would refuse, refused in a form too (the admin): a grade off the
        assessor's scale, a valid judgment without a grade, a passage of another collection."""
        errors: dict[str, str] = {}
        if self.assessor_id is not None and self.grade is not None:
            grades = Assessor.SCALE_GRADES.get(self.assessor.scale, ())
            if self.grade not in grades:
                errors["grade"] = (f"grade {self.grade} is outside the {self.assessor.scale} scale "
                                   f"{grades[0]}..{grades[-1]}" if grades else f"unknown scale {self.assessor.scale!r}")
        if self.valid and self.grade is None:
            errors["grade"] = "a valid judgment has a grade (an unparsable answer is valid=False)"
        if self.query_id is not None and self.passage_id is not None \
                and self.passage.collection_id != self.query.collection_id:
            errors["passage"] = "the passage is not in the query's collection"
        if errors:
            raise ValidationError(errors)


class System(models.Model):
    """A retrieval system (BM25, uniCOIL, TAS-B ...)."""

    name = models.CharField(max_length=128, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Run(models.Model):
    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="runs")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="runs")
    tag = models.CharField(max_length=128, blank=True)
    source = models.ForeignKey(ImportSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["collection", "system"]
        constraints = [models.UniqueConstraint(fields=["system", "collection"], name="uniq_run")]

    def __str__(self) -> str:
        return f"{self.system.name}@{self.collection.name}"


class RunRow(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="rows")
    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="run_rows")
    passage = models.ForeignKey(Passage, on_delete=models.CASCADE, related_name="run_rows")
    rank = models.IntegerField()
    score = models.FloatField()

    class Meta:
        ordering = ["run", "query", "rank"]
        constraints = [models.UniqueConstraint(fields=["run", "query", "passage"], name="uniq_run_row")]

    def clean(self) -> None:
        """As the run importer: the query and the passage are of the run's collection
        (the rank's range is the column's, checked by the field itself)."""
        errors: dict[str, str] = {}
        if self.run_id is not None and self.query_id is not None and self.query.collection_id != self.run.collection_id:
            errors["query"] = "the query is not in the run's collection"
        if self.run_id is not None and self.passage_id is not None and self.passage.collection_id != self.run.collection_id:
            errors["passage"] = "the passage is not in the run's collection"
        if errors:
            raise ValidationError(errors)


class Generation(models.Model):
    """A passage an LLM generated for a query (the H2G input).

    ``response`` is the raw answer as received; ``text`` is the candidate used for
    scoring, with any ``<think>`` block removed.
    """

    ZERO_SHOT = "zero_shot"
    REASON_EXPANSION = "reason_expansion"
    SETTING_CHOICES = [(ZERO_SHOT, "zero-shot (D2Q)"), (REASON_EXPANSION, "with failure reasons as context")]

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="generations")
    generator = models.ForeignKey(Assessor, on_delete=models.CASCADE, related_name="generations")
    setting = models.CharField(max_length=32, choices=SETTING_CHOICES, default=ZERO_SHOT)
    prompt = models.TextField(blank=True)
    response = models.TextField()
    text = models.TextField()
    extracted_answer = models.TextField(null=True, blank=True)
    source = models.ForeignKey(ImportSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["query", "generator", "setting"], name="uniq_generation")
        ]

    def __str__(self) -> str:
        return f"{self.generator.name}/{self.setting} {self.query}"


class BertScore(models.Model):
    """BERTScore of a generated passage (candidate) against one judged passage (reference)."""

    IMPORTED = "imported"
    COMPUTED = "computed"

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="bertscores")
    generator = models.ForeignKey(Assessor, on_delete=models.CASCADE, related_name="bertscores")
    setting = models.CharField(max_length=32, default=Generation.ZERO_SHOT)
    generation = models.ForeignKey(Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="bertscores")
    passage = models.ForeignKey(Passage, on_delete=models.CASCADE, related_name="bertscores")
    position = models.IntegerField(default=0, help_text="position in the file's dids list")
    precision = models.FloatField()
    recall = models.FloatField()
    f1 = models.FloatField()
    model_id = models.CharField(max_length=200, help_text="bert-score hash code: model, layer, idf, version")
    origin = models.CharField(max_length=16, default=IMPORTED)
    source = models.ForeignKey(ImportSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["query", "generator", "setting", "passage", "model_id", "origin"], name="uniq_bertscore"
            )
        ]


class PairwisePreference(models.Model):
    """An LLM's preference between a judged passage and a generated one.

    ``label`` names the passage preferred: 1 the judged one, 2 the generated one, 0 a tie.
    A pairwise job asks both orders (``forward_label``: the judged passage in position 1;
    ``swapped_label``: the generated one in position 1, both read as 1 = judged, 2 =
    generated) and records a tie when they disagree; an imported file (one order, as the
    pipeline asked it) leaves both empty.
    """

    JUDGED = 1
    GENERATED = 2
    TIE = 0

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="preferences")
    passage = models.ForeignKey(Passage, on_delete=models.CASCADE, related_name="preferences")
    assessor = models.ForeignKey(Assessor, on_delete=models.CASCADE, related_name="preferences")
    generation = models.ForeignKey(Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    label = models.SmallIntegerField(help_text="1: the judged passage is preferred; 2: the generated one; 0: a tie")
    forward_label = models.SmallIntegerField(
        null=True, blank=True, help_text="the answer with the judged passage in position 1 (1 judged, 2 generated)")
    swapped_label = models.SmallIntegerField(
        null=True, blank=True, help_text="the answer with the generated passage in position 1 (1 judged, 2 generated)")
    raw_response = models.TextField(blank=True)
    raw_response_swapped = models.TextField(blank=True, default="", db_default="")
    source = models.ForeignKey(ImportSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessor", "query", "passage"], name="uniq_preference")
        ]


class Task(models.TextChoices):
    H2R = "h2r", "Hard to Retrieve"
    H2G = "h2g", "Hard to Generate"
    H2J = "h2j", "Hard to Judge"


class FailureCategory(models.Model):
    """A failure category of the taxonomy (seeded with the paper's categories; editable)."""

    name = models.CharField(max_length=128, unique=True)
    description = models.TextField(blank=True)
    position = models.IntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "failure categories"

    def __str__(self) -> str:
        return self.name


class ReasonProposal(models.Model):
    """The ordered list of failure reasons one assessor proposed for one query and task."""

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="reason_proposals")
    task = models.CharField(max_length=3, choices=Task.choices)
    assessor = models.ForeignKey(Assessor, on_delete=models.CASCADE, related_name="reason_proposals")
    label = models.CharField(max_length=200, blank=True, help_text="pipeline label, e.g. dl19_bm25_bertscore_umbrela_0.3")
    # The label's parts (importers.naming.reasons_label_parts), set by whoever writes the
    # list, so that a campaign over an analysis finds the lists proposed for its subject.
    label_collection = models.CharField(max_length=64, blank=True, help_text="the collection the label names")
    subject = models.CharField(
        max_length=200, blank=True, db_index=True,
        help_text="the system, generator or judge the list was proposed for (HardQ's name: tas-b)",
    )
    settings = models.CharField(max_length=200, blank=True, help_text="the label's settings, e.g. bertscore_umbrela")
    quantile = models.FloatField(null=True, blank=True, help_text="the hardness quantile the label names")
    raw_response = models.TextField(blank=True)
    source = models.ForeignKey(ImportSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["query", "task", "assessor", "label"], name="uniq_reason_proposal")
        ]

    def __str__(self) -> str:
        return f"{self.assessor.name}/{self.task} {self.query}"


class Reason(models.Model):
    proposal = models.ForeignKey(ReasonProposal, on_delete=models.CASCADE, related_name="reasons")
    position = models.IntegerField()
    text = models.TextField()
    category = models.ForeignKey(FailureCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["proposal", "position"]
        constraints = [models.UniqueConstraint(fields=["proposal", "position"], name="uniq_reason_position")]

    def __str__(self) -> str:
        return self.text


class HardnessAnalysis(models.Model):
    """One hardness computation: a task over one subject of one collection.

    The subject is the run's system (H2R), the generator (H2G) or the judge (H2J).
    Imported hard-query CSVs are analyses too, with ``origin='imported'``.
    """

    COMPUTED = "computed"
    IMPORTED = "imported"

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STATUS_CHOICES = [(PENDING, "pending"), (RUNNING, "running"), (DONE, "done"), (FAILED, "failed")]

    task = models.CharField(max_length=3, choices=Task.choices)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="analyses")
    subject = models.CharField(max_length=200, help_text="system, generator or judge (assessor) name")
    variant = models.CharField(max_length=32, blank=True, help_text="e.g. graded / binary for H2J")
    measure = models.CharField(max_length=64, blank=True, help_text="e.g. ndcg_cut_10, bertscore_f1, disagreement")
    quantile = models.FloatField(default=0.25)
    threshold = models.FloatField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    origin = models.CharField(max_length=16, default=COMPUTED)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=PENDING)
    progress_done = models.IntegerField(default=0)
    progress_total = models.IntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "hardness analyses"

    def __str__(self) -> str:
        return f"{self.task} {self.collection.name} {self.subject} q={self.quantile}"


class HardnessLabel(models.Model):
    """The measure of one query in one analysis and whether it is hard."""

    OK = "ok"
    NO_RELEVANT = "no_relevant"
    EXCLUDED = "excluded"
    STATUS_CHOICES = [
        (OK, "measured"),
        (NO_RELEVANT, "judged, no relevant passage"),
        (EXCLUDED, "left out of the distribution"),
    ]

    analysis = models.ForeignKey(HardnessAnalysis, on_delete=models.CASCADE, related_name="labels")
    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="hardness_labels")
    value = models.FloatField(null=True, blank=True)
    hard = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=OK)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["analysis", "value"]
        constraints = [models.UniqueConstraint(fields=["analysis", "query"], name="uniq_hardness_label")]


class LabelVersion(models.Model):
    """The current version of an assessor's judgments (for the agreement copies).

    ``analysis.judgments`` sets a new random value in the transaction of every write
    that changes the assessor's judgments; a ``LabelArray`` is used only while it
    carries the same value. No foreign key: the row is a marker, and an assessor
    deleted with its judgments leaves nothing that could be read as fresh (its
    arrays go with it).
    """

    assessor_id = models.BigIntegerField(primary_key=True)
    version = models.BigIntegerField(default=0)


class LabelArray(models.Model):
    """A packed copy of one assessor's valid grades in one collection (agreement cache).

    ``keys`` holds sorted little-endian int64 ``query_id << 32 | passage_id``, ``grades``
    the int8 grades in the same order. A copy is used only while its ``version`` equals
    the assessor's ``LabelVersion``; otherwise it is rebuilt from the judgments. Why:
    joining millions of judgment rows costs seconds, reading two arrays milliseconds.
    """

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    assessor = models.ForeignKey(Assessor, on_delete=models.CASCADE, related_name="+")
    version = models.BigIntegerField()
    n = models.IntegerField()
    keys = models.BinaryField()
    grades = models.BinaryField()
    built_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "assessor"], name="uniq_label_array")]
