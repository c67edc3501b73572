"""The card network's messages, and the cardholder's history they write.

Where each rule lives:

- the order of an authorization's checks, the credit-limit check among them, and the
  writes: the database function ``network_authorize`` (``sql/network_authorize.sql``; the
  available credit it checks is the ledger's ``account_available_credit``, the hold the
  ledger's ``ledger_hold``); ``service`` passes it its arguments and documents the order;
- clear, reverse and hold expiry, with the tip ceiling of a clear: ``sql/network_resolve.sql``;
- the API's messages that arrive together, run in one statement and one commit
  (``sql/network_authorize_many.sql``, ``sql/network_resolve_many.sql``): ``batching``;
- bulk loads (the simulator's ``--bulk``): ``sql/network_batch.sql``, called by the simulator
  (``simulator.inprocess.authorize_batch``), not by this package;
- a refund: ``service.refund``;
- the domain's queries, and the calls of ``network_authorize`` and ``network_resolve``:
  ``repository``;
- a posted ledger transfer with its ``transactions`` row, for every domain that posts one:
  ``history.post``;
- the spending controls the authorization evaluates: ``api.cards.controls``.

The functions' files are applied by migrations as frozen copies (``api.migrations.replaceable``).
"""
