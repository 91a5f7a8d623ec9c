"""The API's renderers, in a module of their own: DRF's settings import it while
``rest_framework.views`` loads, so it imports nothing that imports those views."""
from __future__ import annotations

from typing import Any

from rest_framework import renderers


class BrowsableApiRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API under the site's Content-Security-Policy.

    Its pages run only DRF's static scripts (script-src 'self' holds), but they carry
    inline styles (style="..." attributes and the code highlighting's style element):
    these pages alone get style-src 'unsafe-inline', through django-csp's per-response
    update, the same mechanism as ``csp.decorators.csp_update``.
    """

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> Any:
        body = super().render(data, accepted_media_type, renderer_context)
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src": ["'unsafe-inline'"]}
        return body
