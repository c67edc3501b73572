with source as (
    {{ latest_version(source('raw', 'charge_offs'), 'account_id') }}
)

select
    account_id,
    charged_off_on as charged_off_date,
    charged_off_amount as charged_off_cents,
    charge_off_transfer_id
from source
