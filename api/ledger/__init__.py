"""The double-entry ledger: the small core with the invariants.

It imports no domain and nothing of HTTP. See ``service`` for the rules.
"""
