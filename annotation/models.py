"""Campaigns, items, assignments, human verdicts and their history."""
