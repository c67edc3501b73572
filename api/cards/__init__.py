"""Cards: issuing, freezing, and their owner's spending controls.

Where each rule lives:

- ``numbers``: card numbers (drawing, Luhn, expiry, encryption at rest, last4 only leaves).
- ``service.issue_card``: a card on a new account, a fresh number on a clash.
- ``service.set_frozen``: freeze and unfreeze; a card staff froze stays frozen until staff
  lift it (audited).
- ``controls``: the spending controls and how an authorization applies them (evaluated in
  the network's database function); ``service.set_controls`` stores them (audited).
- ``repository``: every query (``select_*``, ``lock_*``). Services return the ``Card`` model;
  the router shows it as ``schemas.CardOut``.
"""
