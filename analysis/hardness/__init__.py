"""Pure statistics of hardness: H2R, H2G, H2J, thresholds and overlap.

Every function here works on pandas objects, dicts or files and never touches the ORM,
so the figures can be checked against the raw pipeline files directly; reads from the
database live in ``analysis.hardness_selectors`` and writes in ``analysis.hardness_services``.
"""
