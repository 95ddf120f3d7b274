-- The rescaled indicator lies in [0, 100] and the index is finite (rows returned = failures).
select cve_geo, intensity_0_100, intensity_index
from {{ ref('mart_news_migration_intensity') }}
where intensity_0_100 < 0 or intensity_0_100 > 100 or intensity_index is null or isnan(intensity_index)
