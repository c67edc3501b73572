"""Card accounts: opening one, and what its owner may see of it.

Where each rule lives:

- ``service.open_account``: an account on approval, its billing cycle day
  (``billing_cycle_day_for``: 1..28) and its ledger accounts.
- ``service.visible_account`` / ``history_account``: the caller's own account, or any for an
  admin; else 404, never 403.
- ``service.account_summaries``: what the owner is shown (``models.AccountSummary``): the
  balances from the ledger (``api.ledger.service.balances``), what is due and how late from
  billing (``api.billing.service.billing_summaries``). The router shows it as
  ``schemas.AccountOut.of``.
- ``service.transaction_history``: the history's pages, with the charge-off merged in.
- ``repository``: every query (``select_*``, ``lock_*``, the history's keyset page).
- Higher limits are asked for on the account but decided by underwriting:
  ``api.applications.credit_limits``.
"""
