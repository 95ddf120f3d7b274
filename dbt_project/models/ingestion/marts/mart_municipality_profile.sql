-- One row per municipality: population, migrant shelters and news coverage.
with shelters as (
    select cve_geo, count(*) as shelters, sum(capacity) as shelter_capacity
    from {{ source('silver', 'migrant_shelters') }}
    group by cve_geo
),
news as (
    select cve_geo, count(*) as news_articles, min(published_date) as first_article, max(published_date) as last_article
    from {{ ref('stg_news_articles') }}
    where cve_geo is not null
    group by cve_geo
)
select
    m.cve_geo,
    m.state_name,
    m.municipality_name,
    m.population_total,
    coalesce(s.shelters, 0) as shelters,
    coalesce(s.shelter_capacity, 0) as shelter_capacity,
    coalesce(n.news_articles, 0) as news_articles,
    round(coalesce(n.news_articles, 0) * 100000.0 / nullif(m.population_total, 0), 3) as news_per_100k,
    n.first_article,
    n.last_article
from {{ ref('stg_municipalities') }} m
left join shelters s using (cve_geo)
left join news n using (cve_geo)
