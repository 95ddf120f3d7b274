{{ config(materialized='external') }}
-- One row per municipality with news or migrant shelters: the migration intensity indicator with its
-- components, and the seed's comparison side by side: for each model (and the majority vote) how
-- many of the municipality's articles it says mention migrant women or girls (present__<model>).
with wide as (
    pivot (
        select cve_geo, 'present__' || model as model_col, n_present
        from {{ source('gold', 'migrant_women_mentions_by_municipality') }}
    )
    on model_col
    using cast(sum(n_present) as bigint)
    group by cve_geo
)
select
    i.cve_geo,
    i.state_name,
    i.municipality_name,
    i.population_total,
    i.rank,
    round(i.intensity_0_100, 2) as intensity_0_100,
    i.intensity_index,
    i.n_articles,
    i.n_valid_majority,
    i.n_present_majority,
    i.share_women_news,
    i.news_per_100k,
    i.shelters,
    i.shelter_capacity,
    i.z_share_women_news,
    i.z_news_per_100k,
    i.z_shelters,
    i.z_shelter_capacity,
    i.weights,
    i.prompt_version,
    w.* exclude (cve_geo)
from {{ source('gold', 'migration_intensity_indicator') }} i
left join wide w using (cve_geo)
order by i.rank
