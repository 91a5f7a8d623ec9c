"""Shared personas and paths.

Tests run against PostgreSQL (DATABASE_URL); the personas are an admin and the
annotators alice and bob (DESIGN.md, house rule 7).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


def _paper_data() -> Path | None:
    """The shared paper data: HARDQ_PAPER_DATA, else ../shared/paper-data beside the repo."""
    candidates = [os.environ.get("HARDQ_PAPER_DATA", ""), str(REPO.parent / "shared" / "paper-data")]
    for c in candidates:
        if c and Path(c, "dl19").is_dir():
            return Path(c)
    return None


PAPER_DATA = _paper_data()


@pytest.fixture
def paper_data() -> Path:
    if PAPER_DATA is None:
        pytest.skip("the shared paper data is not beside this checkout (set HARDQ_PAPER_DATA)")
    return PAPER_DATA


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.org", "admin-pass-123")


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.org", "alice-pass-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.org", "bob-pass-123")
