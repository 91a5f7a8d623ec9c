"""The form that starts a judge job from the web (staff only)."""
from __future__ import annotations

from django import forms

from analysis.models import Collection
from judges.models import PromptKind, PromptTemplate


class JudgeJobForm(forms.Form):
    collection = forms.ModelChoiceField(queryset=Collection.objects.all())
    base_url = forms.URLField(max_length=500, help_text="OpenAI-compatible base URL, e.g. http://localhost:11434/v1")
    model = forms.CharField(max_length=200)
    api_key_env = forms.CharField(max_length=128, required=False, help_text="NAME of the environment variable holding the key")
    template = forms.ModelChoiceField(queryset=PromptTemplate.objects.filter(kind__in=[PromptKind.GRADED, PromptKind.BINARY]))
    limit = forms.IntegerField(min_value=1, required=False)
    samples = forms.IntegerField(min_value=1, max_value=15, initial=1)
    concurrency = forms.IntegerField(min_value=1, max_value=256, initial=16)
    assessor = forms.CharField(max_length=128, required=False, help_text="default <model>-<template>-v<version>")
