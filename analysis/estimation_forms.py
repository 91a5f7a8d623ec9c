"""The forms of the budgeted-evaluation pages: they parse the query string, nothing more."""
from __future__ import annotations

from django import forms

from analysis import corpus_selectors
from analysis.budget_simulation import METHODS, UNITS
from analysis.estimation import DEFAULT_LEVEL, INTERVAL_DESCRIPTIONS, INTERVALS


def _collections() -> list[tuple[str, str]]:
    return [(c.name, c.name) for c in corpus_selectors.collection_list()]


def _assessors() -> list[tuple[str, str]]:
    return [(a.name, f"{a.name} ({a.kind})") for a in corpus_selectors.assessor_list()]


class EstimateForm(forms.Form):
    collection = forms.ChoiceField()
    llm = forms.ChoiceField(label="LLM assessor")
    human = forms.ChoiceField(label="Human assessor")
    interval = forms.ChoiceField(choices=[(k, f"{k}: {INTERVAL_DESCRIPTIONS[k]}") for k in INTERVALS], initial="ppi")
    level = forms.FloatField(min_value=0.5, max_value=0.999, initial=DEFAULT_LEVEL)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collection"].choices = _collections()
        self.fields["llm"].choices = self.fields["human"].choices = _assessors()

    def clean(self):
        data = super().clean()
        if data.get("llm") and data.get("llm") == data.get("human"):
            self.add_error("human", "Choose a human assessor other than the LLM.")
        return data


class SimulationForm(forms.Form):
    collection = forms.ChoiceField()
    llm = forms.MultipleChoiceField(label="LLM assessor(s)", help_text="several form an ensemble (vote shares)")
    oracle = forms.ChoiceField(help_text="its labels stand in for people")
    budgets = forms.CharField(initial="5%,10%", help_text="comma-separated counts (500) or shares (5%)")
    select = forms.MultipleChoiceField(choices=[(m, m) for m in METHODS], initial=list(METHODS),
                                       widget=forms.CheckboxSelectMultiple, label="Methods")
    unit = forms.ChoiceField(choices=[(u, u) for u in UNITS], initial="pair")
    repeats = forms.IntegerField(min_value=1, max_value=50, initial=5,
                                 help_text="at most 50 here; more with manage.py simulate_budget")
    seed = forms.IntegerField(initial=0)
    interval = forms.ChoiceField(choices=[(k, f"{k}: {INTERVAL_DESCRIPTIONS[k]}") for k in INTERVALS], initial="ppi",
                                 help_text="unit query: the intervals whose coverage is measured")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collection"].choices = _collections()
        self.fields["llm"].choices = self.fields["oracle"].choices = _assessors()

    def clean_budgets(self) -> list[str]:
        parts = [p.strip() for p in self.cleaned_data["budgets"].split(",") if p.strip()]
        if not parts:
            raise forms.ValidationError("Give at least one budget.")
        if len(parts) > 8:
            raise forms.ValidationError("At most eight budgets on this page.")
        return parts
