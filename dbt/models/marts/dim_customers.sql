-- Customers, minimised: a salted key, an age band and sign-up facts; never a name or an email.
with

customers as (
    select * from {{ ref('stg_cardportal__customers') }}
),

accounts as (
    select
        customer_key,
        count(*)::bigint as accounts_count,
        min({{ utc_date('opened_at') }}) as first_account_opened_date
    from {{ ref('stg_cardportal__accounts') }}
    group by customer_key
)

select
    customers.customer_key,
    {{ utc_date('customers.signed_up_at') }} as signed_up_date,
    customers.age_band,
    coalesce(accounts.accounts_count, 0)::bigint as accounts_count,
    accounts.first_account_opened_date
from customers
left join accounts on accounts.customer_key = customers.customer_key
