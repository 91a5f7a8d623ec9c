"""Campaigns, items, assignments, human verdicts and their history.

Human relevance grades are not stored here: they are ``analysis.Judgment`` rows of an
Assessor named after the annotator (kind human), so every tool that reads judgments
(export_qrels, agreement) treats an annotator like any LLM. What lives here is what only
people produce: leases, verdicts on proposed reasons, added reasons, comments, and the
history of every change to a human label.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from analysis.models import Assessor, Collection, FailureCategory, HardnessAnalysis, Passage, Query, Reason, Task

# The TREC Deep Learning graded scale, shown beside the grade buttons.
GRADE_MEANINGS: dict[int, str] = {
    0: "Irrelevant: the passage has nothing to do with the query.",
    1: "Related: on topic, but does not answer the query.",
    2: "Highly relevant: answers the query, but the answer is unclear or mixed with extraneous text.",
    3: "Perfectly relevant: dedicated to the query, contains the exact answer.",
}


class Campaign(models.Model):
    """A set of items that a pool of annotators labels, each item by ``overlap`` of them."""

    RELEVANCE = "relevance"
    REASONS = "reasons"
    CASCADE = "cascade"
    KIND_CHOICES = [
        (RELEVANCE, "grade relevance of query-passage pairs"),
        (REASONS, "verify failure reasons of hard queries"),
        (CASCADE, "verify the relabels of a cascade run"),
    ]
    OPEN = "open"
    CLOSED = "closed"
    STATUS_CHOICES = [(OPEN, "open"), (CLOSED, "closed")]

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    task = models.CharField(max_length=3, choices=Task.choices, blank=True, help_text="for reasons campaigns")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="campaigns")
    analysis = models.ForeignKey(
        HardnessAnalysis, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    reasons_label = models.CharField(
        max_length=200, blank=True,
        help_text="reasons campaigns: the pipeline label of the reason lists shown (those proposed for the "
                  "analysis's subject, or the one chosen)",
    )
    reference_assessor = models.ForeignKey(
        Assessor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="the LLM whose disagreement with the qrels chose the pairs",
    )
    overlap = models.PositiveSmallIntegerField(default=1, help_text="completed annotations wanted per item (k)")
    annotators = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="annotation_campaigns", blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown; raw HTML is shown as text")
    grade_meanings = models.JSONField(
        default=dict, blank=True,
        help_text='relevance: what each grade means, e.g. {"0": "Irrelevant: ..."}; '
                  "a grade left out keeps the TREC Deep Learning wording",
    )
    blind = models.BooleanField(default=False, help_text="hide official/LLM grades and model names until commit")
    reveal_after_commit = models.BooleanField(default=False, help_text="show the hidden grades once submitted")
    # An anchoring control (relevance): the reference assessor's (LLM's) grade is shown on
    # every item except the control items, which are shown blind.
    show_llm_grade = models.BooleanField(default=False, help_text="relevance: show the LLM's grade beside the pair")
    control_share = models.FloatField(default=0.0, help_text="share of items shown without the LLM's grade (0-1)")
    lease_seconds = models.PositiveIntegerField(default=900)
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == self.OPEN


class Item(models.Model):
    """One thing to label: a hard query (reasons) or a query-passage pair (relevance, cascade)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    position = models.IntegerField(default=0)
    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="+")
    passage = models.ForeignKey(Passage, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    overlap = models.PositiveSmallIntegerField(default=1, help_text="k for this item (gold items: every annotator)")
    # Kept in step with the done assignments under the item's row lock, so the next-item
    # query filters on a column instead of counting.
    completed_count = models.PositiveSmallIntegerField(default=0)
    # The number of its assignments in the leased state, live or expired, kept in step by
    # the services under the item's row lock (lease +1, submit and skip -1, undo +1). A
    # lease writes it, so a competing lease that locks the row afterwards reads the new
    # value (PostgreSQL hands SELECT ... FOR UPDATE the row's latest version): when
    # ``completed_count + lease_count`` leaves room, the item has room without counting
    # the live leases again; only an item whose count includes expired leases is counted.
    lease_count = models.PositiveIntegerField(default=0)
    is_gold = models.BooleanField(default=False)
    is_control = models.BooleanField(default=False, help_text="anchoring control: shown without the LLM's grade")
    gold_grade = models.SmallIntegerField(null=True, blank=True)
    gold_verdicts = models.JSONField(default=dict, blank=True, help_text="reason id -> agree/disagree")
    final_grade = models.SmallIntegerField(null=True, blank=True, help_text="adjudicated")
    final_verdicts = models.JSONField(default=dict, blank=True)
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    adjudicated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "position"]
        indexes = [
            # The items still open, in the order leases take them: the next-item query walks
            # this index and stops at the first free one instead of checking every item of
            # the campaign (13 ms -> 0.4 ms on a 10,000-item campaign).
            models.Index(
                fields=["campaign", "position", "id"], condition=Q(completed_count__lt=F("overlap")),
                name="annotation_item_open",
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} of campaign {self.campaign_id}"


class Assignment(models.Model):
    """One annotator's lease on, and then answer to, one item (at most one per pair)."""

    LEASED = "leased"
    DONE = "done"
    SKIPPED = "skipped"
    STATUS_CHOICES = [(LEASED, "leased"), (DONE, "done"), (SKIPPED, "skipped")]

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=LEASED)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    seconds_spent = models.FloatField(default=0)
    grade = models.SmallIntegerField(null=True, blank=True, help_text="copy of the relevance grade given")
    comment = models.TextField(blank=True)
    confidence = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 (guess) .. 5 (sure)")
    skip_reason = models.TextField(blank=True)
    draft = models.JSONField(default=dict, blank=True, help_text="autosaved, not yet submitted")

    class Meta:
        ordering = ["item", "user"]
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="uniq_assignment_item_user")]
        indexes = [
            models.Index(fields=["user", "status"]),
            models.Index(fields=["item", "status", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.item} ({self.status})"


class ReasonVerdict(models.Model):
    """An annotator's verdict on one proposed reason."""

    AGREE = "agree"
    DISAGREE = "disagree"
    UNSURE = "unsure"
    VERDICT_CHOICES = [(AGREE, "agree"), (DISAGREE, "disagree"), (UNSURE, "unsure")]

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="verdicts")
    reason = models.ForeignKey(Reason, on_delete=models.CASCADE, related_name="verdicts")
    verdict = models.CharField(max_length=8, choices=VERDICT_CHOICES)
    category = models.ForeignKey(FailureCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assignment", "reason"], name="uniq_verdict")]


class AddedReason(models.Model):
    """A failure reason the annotator found missing from the proposals."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="added_reasons")
    text = models.TextField()
    category = models.ForeignKey(FailureCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")


class LabelHistory(models.Model):
    """Every change to a human label: who, when, what it was before and after."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=16, help_text="submit, undo, adjudicate")
    item = models.ForeignKey(Item, null=True, on_delete=models.CASCADE, related_name="history")
    assignment = models.ForeignKey(Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=200, help_text="e.g. judgment alice 19335 D123, verdict reason 17")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "label history"


# --- budget campaigns (create_campaign --budget) -------------------------------------

class BudgetPlan(models.Model):
    """How a relevance campaign spends a human budget: which method picks the pairs
    people judge, counted in pairs or whole queries, and in rounds of what size.

    The items of each round are recorded (``BudgetRound``); ``lara`` adds its next round
    when the last one is complete, from a calibration fitted on the labels so far.
    """

    RANDOM = "random"
    UNCERTAINTY = "uncertainty"
    LARA = "lara"
    METHOD_CHOICES = [
        (RANDOM, "random pairs or queries (the baseline)"),
        (UNCERTAINTY, "the least certain LLM grade probabilities"),
        (LARA, "the smallest calibrated margin, round by round (LARA)"),
    ]
    PAIR = "pair"
    QUERY = "query"
    UNIT_CHOICES = [(PAIR, "pairs"), (QUERY, "whole queries")]

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="budget_plan")
    budget = models.PositiveIntegerField(help_text="items people judge, in the unit")
    method = models.CharField(max_length=16, choices=METHOD_CHOICES)
    unit = models.CharField(max_length=8, choices=UNIT_CHOICES, default=PAIR)
    round_size = models.PositiveIntegerField(help_text="items per round, in the unit")
    first_round = models.CharField(
        max_length=16, choices=METHOD_CHOICES[:2], default=RANDOM, help_text="lara: how the first round is picked"
    )
    seed = models.IntegerField(default=0, help_text="seed of the random draws (one generator per round)")

    def __str__(self) -> str:
        return f"{self.method} budget of {self.budget} {self.unit}s for campaign {self.campaign_id}"


class BudgetRound(models.Model):
    """One round of a budget campaign: the items it added and how they were picked."""

    plan = models.ForeignKey(BudgetPlan, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    selection = models.CharField(max_length=16, help_text="random, uncertainty or calibrated")
    size = models.PositiveIntegerField(help_text="items of the round, in the plan's unit")
    n_labels = models.PositiveIntegerField(default=0, help_text="human labels the calibration was fitted on")
    items = models.ManyToManyField(Item, related_name="budget_rounds")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["plan", "number"]
        constraints = [models.UniqueConstraint(fields=["plan", "number"], name="uniq_budget_round_number")]

    def __str__(self) -> str:
        return f"round {self.number} of {self.plan}"
