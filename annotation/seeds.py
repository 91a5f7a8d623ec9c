"""The failure-category taxonomy the annotation app starts with: the paper's ten categories.

Seeded by migration 0002 and again after every ``flush`` (``analysis.seeding``); the
functions take the app registry they are given (the migration's historical one, or
the installed one), so they work in both places.
"""
from __future__ import annotations

PAPER_CATEGORIES = [
    ("Quantitative data needed", "The answer needs figures, amounts or statistics."),
    ("Specific or niche topic", "The topic is narrow or specialised."),
    ("Query unrelated to the criteria", "The query does not fit the judging criteria."),
    ("No relevant passage context", "The passages lack the context the query needs."),
    ("Up-to-date information needed", "The answer depends on recent or changing facts."),
    ("Technical accuracy required", "A correct answer needs precise technical knowledge."),
    ("Risk of misinformation", "Plausible but wrong answers are likely."),
    ("Numerical data extraction", "The answer must be extracted as a number from text."),
    ("Specific product term", "The query names a product, brand or model."),
    ("Ambiguous subject reference", "The query's subject can be read in several ways."),
]


def failure_categories_seed(apps, schema_editor) -> None:
    """Create the paper's categories that are missing (idempotent; run by the migration and after a flush)."""
    FailureCategory = apps.get_model("analysis", "FailureCategory")
    for position, (name, description) in enumerate(PAPER_CATEGORIES, start=1):
        # get_or_create: an importer may already have created a category of that name.
        FailureCategory.objects.get_or_create(name=name, defaults={"description": description, "position": position})


def failure_categories_unseed(apps, schema_editor) -> None:
    FailureCategory = apps.get_model("analysis", "FailureCategory")
    FailureCategory.objects.filter(name__in=[n for n, _ in PAPER_CATEGORIES]).delete()
