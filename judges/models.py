"""Endpoints, versioned prompt templates, LLM jobs and the call cache/audit trail."""
