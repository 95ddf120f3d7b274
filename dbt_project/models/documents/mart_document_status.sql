{{ config(materialized='external') }}
-- One row per document (draft_id): its latest version, the latest review decision on that version,
-- how many review rows it has, and what the published site shows. published_flagged_numbers is the
-- number of ungrounded numbers in the published version: the review rules keep it at 0.
with latest_version as (
    select *
    from {{ source('gold', 'document_drafts') }}
    qualify row_number() over (partition by draft_id order by version desc) = 1
),
reviews as (
    select *,
        row_number() over (partition by draft_id, version order by created_at desc, review_id desc) as rn
    from {{ source('gold', 'document_reviews') }}
),
review_counts as (
    select draft_id, count(*) as review_rows,
        count(*) filter (where status <> 'draft') as decisions,
        max(created_at) as last_review_at
    from {{ source('gold', 'document_reviews') }}
    group by draft_id
),
published as (
    select p.draft_id, p.version as published_version, p.approved_by, p.approved_at, p.published_at,
        d.numbers_flagged as published_flagged_numbers
    from {{ source('gold', 'published_documents') }} p
    join {{ source('gold', 'document_drafts') }} d using (draft_id, version)
)
select
    l.draft_id,
    l.document_type,
    l.sector_code,
    l.sector_title,
    l.geo_code,
    l.geo_name,
    l.geo_level,
    l.title,
    l.version as latest_version,
    l.backend,
    l.model,
    l.instructions_id,
    l.numbers_found,
    l.numbers_grounded,
    l.numbers_flagged,
    l.numbers_flagged = 0 as approvable,
    coalesce(r.status, 'draft') as latest_status,
    r.reviewer as latest_reviewer,
    r.created_at as latest_status_at,
    coalesce(c.review_rows, 0) as review_rows,
    coalesce(c.decisions, 0) as decisions,
    p.published_version,
    p.approved_by,
    p.approved_at,
    p.published_at,
    coalesce(p.published_flagged_numbers, 0) as published_flagged_numbers,
    p.published_version is not null as is_published,
    p.published_version is not null and p.published_version < l.version as newer_version_pending
from latest_version l
left join reviews r on r.draft_id = l.draft_id and r.version = l.version and r.rn = 1
left join review_counts c on c.draft_id = l.draft_id
left join published p on p.draft_id = l.draft_id
