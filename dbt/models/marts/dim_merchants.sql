select
    md5(concat_ws('|', merchant_name, merchant_mcc, merchant_country)) as merchant_key,
    merchant_name,
    merchant_mcc,
    min(mcc_group) as mcc_group,
    merchant_country,
    min(created_date) as first_seen_date,
    count(*)::bigint as transactions_count
from {{ ref('int_transactions_classified') }}
where merchant_name is not null
group by merchant_name, merchant_mcc, merchant_country
