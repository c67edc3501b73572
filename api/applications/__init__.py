"""Card applications and credit-limit increases: the rules decide, approval opens an account.

Where each rule lives:

- ``underwriting``: the decision itself (pure functions: income, debt-to-income, age, score
  tiers, the limit and APR offered, the reason codes and their wording).
- ``bureau``: where the score comes from (sandbox or HTTP); 503 when none is usable.
- ``service.apply``: one open account per customer, one application in review at a time
  (the applicant's row locked), then the rules' decision; approval opens the account
  (``api.accounts.service.open_account``) and issues a card (``api.cards.service``).
- ``service.decide``: an admin's decision on an application in manual review (audited).
- ``credit_limits``: higher limits on an open account (12 CFR 1026.51).
- ``repository``: every query (``select_*``, ``lock_*``). Services return the models; the
  routers show them with ``schemas.ApplicationOut.of`` and ``CreditLimitRequestOut.of``.
"""
