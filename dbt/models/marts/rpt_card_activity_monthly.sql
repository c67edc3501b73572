-- Purchase volume and count, active accounts, average ticket and approval rate per month and MCC group.
{{ card_activity('month') }}
