-- Purchase volume and count, active accounts, average ticket and approval rate per week and MCC group.
{{ card_activity('week') }}
