"""The site's own app: nothing but its system checks (``hardq_site/checks.py``)."""
from django.apps import AppConfig


class HardQSiteConfig(AppConfig):
    name = "hardq_site"
    verbose_name = "HardQ site"

    def ready(self) -> None:
        from hardq_site import checks  # noqa: F401  (registers the checks)
