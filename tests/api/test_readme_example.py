"""The README's "Using the API from Python" example, run as written against a live server.

Only its three settings (BASE, KEY, RUN_FILE) are replaced. The expected figures are the
paper-data README's: DL19 BM25 by default (nDCG@10 = 0 for a query with relevant
passages but none retrieved, as trec_eval) has threshold 0.376102 and 11 hard queries,
1063750 among them.
"""
from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from tests.conftest import REPO


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- api-example:start -->", 1)[1].split("<!-- api-example:end -->", 1)[0]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


def with_settings(code: str, **values: str) -> str:
    for name, value in values.items():
        code, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", code, count=1, flags=re.M)
        assert n == 1, f"the README example no longer sets {name}"
    return code


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_readme_python_example_uploads_a_run_and_downloads_the_hard_queries(
    live_server, admin_user, paper_data, capsys
):
    dl19 = paper_data / "dl19"
    call_command("import_queries", str(dl19 / "test2019-queries-filterd.tsv"), collection="dl19", no_progress=True)
    call_command("import_qrels", str(dl19 / "qrels.dl19-passage.txt"), collection="dl19", no_progress=True)
    key = Token.objects.create(user=admin_user).key
    code = with_settings(
        readme_example(),
        BASE=f"{live_server.url}/api",
        KEY=key,
        RUN_FILE=str(dl19 / "run.msmarco-v1-passage.bm25-default.dl19.txt"),
    )
    namespace: dict = {}
    capsys.readouterr()
    exec(compile(code, "README.md (api example)", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    hard = {label["qid"] for label in namespace["hard"]["results"]}
    assert round(namespace["analysis"]["threshold"], 6) == 0.376102
    assert len(hard) == 11
    assert "1063750" in hard
    assert "43000 rows read" in out.replace(",", "")
    assert "threshold 0.3761: 11 hard queries" in out
