{{ config(materialized='external') }}
-- One row per tile and land-cover label: how many objects, how much area (pixels, m² when the tile has a
-- CRS) and which share of the tile's labelled area, next to the tile's georeference, how sure the namer
-- was (area-weighted confidence) and how often the embedded rules agree with that label mask by mask.
with objects as (
    select
        batch_id,
        tile_id,
        label,
        sum(area_px * confidence) / nullif(sum(case when confidence is not null then area_px end), 0)
            as mean_confidence,
        sum(case when label = mask_rule_label then area_px else 0 end)::double / nullif(sum(area_px), 0)
            as rule_agreement
    from {{ source('gold', 'image_objects') }}
    group by batch_id, tile_id, label
)
select
    s.batch_id || '|' || s.tile_id || '|' || s.label as tile_label_key,
    s.batch_id,
    s.tile_id,
    t.file_name,
    s.label,
    s.n_objects,
    s.area_px,
    s.area_m2,
    round(s.area_share, 6) as area_share,
    round(o.mean_confidence, 4) as mean_confidence,
    round(o.rule_agreement, 4) as rule_agreement,
    t.crs,
    t.georeferenced,
    t.res_x as resolution,
    t.min_x,
    t.min_y,
    t.max_x,
    t.max_y,
    t.valid_fraction
from {{ source('gold', 'image_object_summary') }} as s
join {{ source('silver', 'tiles') }} as t
    on t.tile_id = s.tile_id and t.status = 'ok'
left join objects as o
    on o.batch_id = s.batch_id and o.tile_id = s.tile_id and o.label = s.label
