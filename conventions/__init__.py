"""Conventions the apps share (access rules, API conventions, safe file output).

This package sits below every app: it imports Django and DRF, never ``analysis``,
``judges``, ``annotation`` or ``hardq_site`` (checked by import-linter).
"""
