"""Seed the failure-category taxonomy with the paper's ten categories (editable afterwards)."""
from django.db import migrations

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


def seed(apps, schema_editor):
    FailureCategory = apps.get_model("analysis", "FailureCategory")
    for position, (name, description) in enumerate(PAPER_CATEGORIES, start=1):
        # get_or_create: an importer may already have created a category of that name.
        FailureCategory.objects.get_or_create(name=name, defaults={"description": description, "position": position})


def unseed(apps, schema_editor):
    FailureCategory = apps.get_model("analysis", "FailureCategory")
    FailureCategory.objects.filter(name__in=[n for n, _ in PAPER_CATEGORIES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0001_initial"),
        ("analysis", "0001_initial"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
