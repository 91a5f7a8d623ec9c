"""Importers for every pipeline file (see ``services`` for the entry points).

- ``formats``: one pure parser per file format;
- ``kinds``: one importer per kind, all run through ``Importer.run`` (the shared
  validation, idempotence and reporting path);
- ``services``: the keyword-only functions commands and endpoints call;
- ``naming`` / ``bundle``: recognising a directory of pipeline outputs and importing it.
"""
