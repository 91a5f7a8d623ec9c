"""The pairwise page's filter: it parses the query string, nothing more."""
from __future__ import annotations

from typing import Any

from django import forms


class PairwiseFilterForm(forms.Form):
    generator = forms.ChoiceField(required=False, help_text="the generator whose passages were compared")

    def __init__(self, *args: Any, generators: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["generator"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "every generator"), *((g, g) for g in generators)]
        field.error_messages["invalid_choice"] = "Unknown generator %(value)s: no passage of it was compared here."
