"""Prompt templates: versioned data, placeholders checked on save, UMBRELA files load as they are."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from judges import selectors, services
from judges.models import PromptKind, PromptTemplate
from judges.prompts import render


@pytest.mark.django_db
def test_hardq_default_templates_are_seeded_for_every_kind():
    kinds = set(PromptTemplate.objects.filter(name__startswith="hardq-", version=1).values_list("kind", flat=True))
    assert kinds == set(PromptKind.values)
    for t in PromptTemplate.objects.all():
        assert t.content_hash == t.compute_hash()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["umbrela_qrel_zeroshot_bing", "umbrela_qrel_zeroshot_basic", "umbrela_qrel_fewshot_bing", "umbrela_qrel_fewshot_basic"])
def test_umbrela_prompt_files_load_as_they_are(paper_data, name, capsys):
    path = paper_data / "prompts" / f"{name}.txt"
    call_command("add_prompt", name, str(path), "--kind", "graded")
    template = PromptTemplate.objects.get(name=name)
    assert template.content == path.read_text(encoding="utf-8")
    assert template.version == 1
    prompt = render(template.content, {"query": "what is a cat", "passage": "A cat is {a small mammal}.", "examples": "EX"})
    assert "what is a cat" in prompt and "A cat is {a small mammal}." in prompt
    assert "{query}" not in prompt and "{passage}" not in prompt
    if "{examples}" in template.content:
        assert "EX" in prompt


@pytest.mark.django_db
def test_a_changed_text_is_a_new_version_and_the_same_text_is_not():
    first = services.template_add(name="mine", kind="binary", content="Q: {query}\nP: {passage}\nyes or no?")
    again = services.template_add(name="mine", kind="binary", content="Q: {query}\nP: {passage}\nyes or no?")
    changed = services.template_add(name="mine", kind="binary", content="Query: {query}\nPassage: {passage}\nyes or no?")
    assert again.pk == first.pk
    assert (first.version, changed.version) == (1, 2)
    assert first.content_hash != changed.content_hash
    assert selectors.template_resolve(prompt="mine", kinds=["binary"]).pk == changed.pk
    assert selectors.template_resolve(prompt="mine:v1", kinds=["binary"]).pk == first.pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind, content, problem",
    [
        ("graded", "Query: {query}", "missing placeholder {passage}"),
        ("graded", "Query: {query} Passage: {pasage}", "unknown placeholder {pasage}"),
        ("pairwise", "{query} {passage_a}", "missing placeholder {passage_b}"),
        ("generation", "Write about it.", "missing placeholder {query}"),
    ],
)
def test_placeholders_are_checked_when_saved(kind, content, problem):
    with pytest.raises(ValidationError) as err:
        PromptTemplate(name="bad", kind=kind, content=content).save()
    assert problem in str(err.value)
    assert not PromptTemplate.objects.filter(name="bad").exists()


@pytest.mark.django_db
def test_add_prompt_command_reports_bad_placeholders(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("Judge {query} against {document}", encoding="utf-8")
    with pytest.raises(CommandError, match="missing placeholder"):
        call_command("add_prompt", "broken", str(path), "--kind", "graded")


def test_rendering_is_single_pass_and_leaves_other_braces():
    out = render("Q: {query}\nP: {passage}\nJSON: {\"score\": N}", {"query": "{passage}", "passage": "text {x}"})
    assert out == 'Q: {passage}\nP: text {x}\nJSON: {"score": N}'
