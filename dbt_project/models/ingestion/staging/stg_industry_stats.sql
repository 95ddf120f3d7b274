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
    intermediate_consumption,
    remuneration,
    price_index
from {{ source('silver', 'industry_stats') }}
