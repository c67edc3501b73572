"""The double-entry ledger: the small core with the invariants.

It imports no domain and nothing of HTTP. See ``service`` for the rules. Where each lives:

- the named invariants (1-5), the accounts and every Python entry point: ``service``;
- the database functions, one file each in ``sql/`` (applied by migrations as frozen copies,
  ``api.migrations.replaceable``): ``ledger_write_transfer``, the one writer of transfers
  (invariants 1 and 3); ``ledger_hold``, the credit-limit check as a hold is written
  (invariant 5); ``ledger_resolve_pending``, a hold posted or voided once (invariant 4);
  ``ledger_house``, the house shard; ``account_available_credit``, available credit;
- Python's copies of the last two, ``service.house_shard`` and ``service.available_credit``,
  are pinned to the SQL by tests (``tests/api/ledger``, ``tests/api/test_db_functions.py``);
- a posted transfer together with its line in the cardholder's history (interest, fees,
  payments and their returns, refunds, recoveries) is ``api.network.history.post``: the
  history is the network's table, which the ledger does not import.
"""
