"""Which LLM endpoints the server may call, and which environment variables may hold their keys.

The client sends ``os.environ[endpoint.api_key_env]`` as a bearer token to the
endpoint's base URL. Were any variable name accepted, a staff user could point an
endpoint at a listener of their own with ``api_key_env=SECRET_KEY`` (or
``DATABASE_URL``) and receive the server's secrets. So the operator names the variables
that hold LLM keys (``HARDQ_LLM_KEY_ENVS``: names or shell-style patterns) and,
optionally, the hosts an endpoint may point at (``HARDQ_LLM_ALLOWED_HOSTS``, Django's
``ALLOWED_HOSTS`` syntax; empty means any host).

The rules are checked where an endpoint is written (forms, API, admin, services) and
again by the client right before it sends anything, for endpoints stored before a rule
was tightened.
"""
from __future__ import annotations

import re
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http.request import validate_host

# What an environment variable name looks like (POSIX): anything else is not one.
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The setting that lists the names is never itself a key, though it matches HARDQ_LLM_KEY_*.
NEVER_KEYS = {"HARDQ_LLM_KEY_ENVS"}
SCHEMES = {"http", "https"}


class EndpointRefused(Exception):
    """An endpoint the operator's rules do not allow: no request is sent to it."""


def allowed_key_envs() -> list[str]:
    """The operator's key variables: HARDQ_LLM_KEY_ENVS and the commands' default HARDQ_LLM_API_KEY_ENV."""
    names = list(settings.HARDQ_LLM_KEY_ENVS)
    default = getattr(settings, "HARDQ_LLM_API_KEY_ENV", "")
    if default and default not in names:
        names.append(default)
    return names


def key_env_refusal(name: str) -> str | None:
    """Why ``name`` may not name an API key variable, or None when it may (an empty name: no key)."""
    if not name:
        return None
    allowed = allowed_key_envs()
    if ENV_NAME_RE.fullmatch(name) and name not in NEVER_KEYS and any(fnmatchcase(name, p) for p in allowed):
        return None
    return (f"{name!r} is not a variable the operator allowed for LLM keys "
            f"(allowed: {', '.join(allowed) or 'none'}; the setting is HARDQ_LLM_KEY_ENVS)")


def host_refusal(base_url: str) -> str | None:
    """Why the server may not call ``base_url``, or None when it may."""
    try:
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return f"{base_url!r} is not a URL"
    if parts.scheme.lower() not in SCHEMES or not host:
        return f"{base_url!r}: an endpoint is an http:// or https:// URL with a host"
    allowed = list(settings.HARDQ_LLM_ALLOWED_HOSTS)
    if not allowed:
        return None
    # validate_host takes the ALLOWED_HOSTS form of a host: IPv6 literals in brackets.
    if validate_host(f"[{host}]" if ":" in host else host, allowed):
        return None
    return (f"host {host!r} is not an allowed LLM endpoint host "
            f"(allowed: {', '.join(allowed)}; the setting is HARDQ_LLM_ALLOWED_HOSTS)")


def validate_api_key_env(value: str) -> None:
    """Django validator of an endpoint's ``api_key_env`` (model field, forms, serializers)."""
    refusal = key_env_refusal(value or "")
    if refusal:
        raise ValidationError(refusal, code="key_env_not_allowed")


def validate_endpoint_host(value: str) -> None:
    """Django validator of an endpoint's ``base_url``."""
    refusal = host_refusal(value or "")
    if refusal:
        raise ValidationError(refusal, code="host_not_allowed")


def endpoint_refusal(*, base_url: str, api_key_env: str) -> str | None:
    """Both rules at once (the client's last check before it sends)."""
    return host_refusal(base_url) or key_env_refusal(api_key_env)
