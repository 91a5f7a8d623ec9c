"""System checks of the site's configuration that Django's own do not cover."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

CSP_MIDDLEWARE = "csp.middleware.CSPMiddleware"


@checks.register(checks.Tags.security)
def content_security_policy_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Outside DEBUG, every page carries the Content-Security-Policy and it runs no inline script."""
    if settings.DEBUG:
        return []
    errors: list[checks.CheckMessage] = []
    if CSP_MIDDLEWARE not in settings.MIDDLEWARE:
        errors.append(
            checks.Error(
                f"{CSP_MIDDLEWARE} is not in MIDDLEWARE: pages are served without a Content-Security-Policy.",
                hint="Put it right after django.middleware.security.SecurityMiddleware.",
                id="hardq.E001",
            )
        )
    directives = (getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}).get("DIRECTIVES") or {}
    script_src = directives.get("script-src") or directives.get("default-src") or []
    if not directives or "'unsafe-inline'" in script_src or "'unsafe-eval'" in script_src:
        errors.append(
            checks.Error(
                "CONTENT_SECURITY_POLICY must set script-src without 'unsafe-inline' or 'unsafe-eval'.",
                hint="HardQ's pages run only static script files; see README, Security.",
                id="hardq.E002",
            )
        )
    return errors
