select
    article_id,
    cast(published_date as date) as published_date,
    cve_geo,
    cve_geo_status,
    outlet
from {{ source('silver', 'news_articles') }}
