"""mypy.ini checks every services, selectors, views and APIs module with
``disallow_untyped_defs`` (issue 13, item 6): a new such module without annotations, or
a section that turns the rule off again, fails here before it reaches review."""
from __future__ import annotations

import configparser
import re

from tests.conftest import REPO

KINDS = re.compile(r"(services|selectors|views|apis)$")


def test_every_services_selectors_views_and_apis_module_must_be_annotated():
    config = configparser.ConfigParser()
    config.read(REPO / "mypy.ini")
    strict: set[str] = set()
    for section in config.sections():
        if section.startswith("mypy-") and config[section].get("disallow_untyped_defs", "").strip() == "True":
            strict |= {m.strip() for m in section[len("mypy-"):].split(",")}
        if config[section].get("disallow_untyped_defs", "").strip() == "False":
            raise AssertionError(f"[{section}] exempts modules from disallow_untyped_defs")
    modules = {
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for app in ("analysis", "judges", "annotation", "demo")
        for p in (REPO / app).rglob("*.py")
        if "migrations" not in p.parts and KINDS.search(p.stem)
    }
    assert len(modules) > 20
    assert sorted(modules - strict) == []
