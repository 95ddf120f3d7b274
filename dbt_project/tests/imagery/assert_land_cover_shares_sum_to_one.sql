-- Each tile's label shares are within [0, 1] and add up to 1 (every labelled pixel counted once).
select tile_id, sum(area_share) as total, min(area_share) as smallest, max(area_share) as largest
from {{ ref('mart_land_cover_by_tile') }}
group by tile_id
having abs(sum(area_share) - 1) > 1e-4 or min(area_share) < 0 or max(area_share) > 1
