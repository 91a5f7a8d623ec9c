"""The form that starts an LLM job of any kind from the web (staff only)."""
from __future__ import annotations

from django import forms

from analysis.models import Assessor, Collection
from judges import endpoint_policy
from judges.models import JobKind, PromptTemplate, TrainingSet

# Which template kinds fit which job kind.
TEMPLATE_KINDS = {
    JobKind.JUDGE: {"graded", "binary"},
    JobKind.GENERATE: {"generation"},
    JobKind.PAIRWISE: {"pairwise"},
    JobKind.REASONS: {"reasons_h2r", "reasons_h2g", "reasons_h2j"},
    JobKind.RELABEL: {"cascade"},
}


class LLMJobForm(forms.Form):
    # A probe job comes from an assessor's own configuration (probe_judge), not this form.
    kind = forms.ChoiceField(choices=[c for c in JobKind.choices if c[0] != JobKind.PROBE], initial=JobKind.JUDGE)
    collection = forms.ModelChoiceField(queryset=Collection.objects.all(), required=False, help_text="all kinds but relabel")
    base_url = forms.URLField(max_length=500, validators=[endpoint_policy.validate_endpoint_host],
                              help_text="OpenAI-compatible base URL, e.g. http://localhost:11434/v1")
    model = forms.CharField(max_length=200)
    api_key_env = forms.CharField(max_length=128, required=False, validators=[endpoint_policy.validate_api_key_env],
                                  help_text="NAME of the environment variable holding the key")
    template = forms.ModelChoiceField(queryset=PromptTemplate.objects.all())
    limit = forms.IntegerField(min_value=1, required=False)
    samples = forms.IntegerField(min_value=1, max_value=15, initial=1, help_text="majority vote; a tie goes to the lower value")
    concurrency = forms.IntegerField(min_value=1, max_value=256, initial=16)
    assessor = forms.CharField(max_length=128, required=False, help_text="default <model>-<template>-v<version>")
    batch = forms.BooleanField(
        required=False, label="Batch mode",
        help_text="send the calls through the endpoint's Batch API (answers within 24 h, at the batch price)",
    )
    rounds = forms.IntegerField(min_value=1, max_value=5, initial=1, help_text="reasons: refinement rounds per query")
    generator = forms.ModelChoiceField(queryset=Assessor.objects.filter(kind=Assessor.LLM), required=False,
                                       help_text="pairwise: whose generated passages")
    min_grade = forms.IntegerField(min_value=0, max_value=3, initial=2, required=False,
                                   help_text="pairwise: compare the passages officially graded this or more (default 2)")
    one_order = forms.BooleanField(required=False, help_text="pairwise: ask once, the judged passage first "
                                                             "(default: both orders, a tie when they disagree)")
    training_set = forms.ModelChoiceField(queryset=TrainingSet.objects.all(), required=False, help_text="relabel")
    stage2_base_url = forms.URLField(max_length=500, required=False, validators=[endpoint_policy.validate_endpoint_host],
                                     help_text="relabel: the strong stage-2 endpoint")
    stage2_model = forms.CharField(max_length=200, required=False)
    policy = forms.ChoiceField(choices=[("move", "move to positives"), ("remove", "remove")], initial="move")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The operator's list, read per request: a changed setting shows at once.
        allowed = ", ".join(endpoint_policy.allowed_key_envs())
        self.fields["api_key_env"].help_text = f"NAME of the environment variable holding the key; allowed: {allowed}"

    def clean(self):
        data = super().clean()
        kind, template = data.get("kind"), data.get("template")
        if template and kind and template.kind not in TEMPLATE_KINDS[kind]:
            self.add_error("template", f"a {kind} job needs a template of kind {' / '.join(sorted(TEMPLATE_KINDS[kind]))}")
        if kind == JobKind.RELABEL:
            for field in ("training_set", "stage2_base_url", "stage2_model"):
                if not data.get(field):
                    self.add_error(field, "required for the relabeling cascade")
        elif not data.get("collection"):
            self.add_error("collection", "required")
        if kind == JobKind.PAIRWISE and not data.get("generator"):
            self.add_error("generator", "required for pairwise preference")
        return data
