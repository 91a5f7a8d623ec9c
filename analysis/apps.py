from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analysis"

    def ready(self) -> None:
        # Registered here, before any URLconf is loaded, so every app's URLs may use it.
        from django.urls import register_converter

        from analysis.converters import CollectionNameConverter

        register_converter(CollectionNameConverter, "collection")
