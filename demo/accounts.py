"""The demo's collection and accounts.

DEMO CREDENTIALS: public on purpose (printed by the command, in the README), for a
local demo only. Never use them for real.
"""
from __future__ import annotations

from dataclasses import dataclass

DEMO_COLLECTION = "dl19"
# Marks an account as the demo's own: --reset deletes only these, re-runs reset only these.
DEMO_MARK = "HardQ demo account"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    is_admin: bool


DEMO_ACCOUNTS = (
    DemoAccount("admin", "hardq-demo-admin", True),
    DemoAccount("alice", "hardq-demo-alice", False),
    DemoAccount("bob", "hardq-demo-bob", False),
)
DEMO_ANNOTATORS = tuple(a.username for a in DEMO_ACCOUNTS if not a.is_admin)
