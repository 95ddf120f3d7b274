-- Industry indicators by sector, census year and geography, with derived ratios.
-- Null stays null: a confidential cell is never imputed.
select
    census_year,
    geo_code,
    geo_name,
    geo_level,
    sector_code,
    sector_title,
    employment,
    gross_output,
    value_added,
    remuneration,
    round(value_added * 1e6 / nullif(employment, 0), 2) as value_added_per_worker_pesos,
    round(remuneration * 1e6 / nullif(employment, 0), 2) as remuneration_per_worker_pesos,
    round(100 * value_added / nullif(gross_output, 0), 2) as value_added_share_pct,
    price_index
from {{ ref('stg_industry_stats') }}
