-- Purchase volume and count, active accounts, average ticket and approval rate per day and MCC group.
{{ card_activity('day') }}
