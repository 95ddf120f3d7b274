{{ config(materialized='external') }}
-- One row per classification: how much of the pending work the current model codes automatically, how much
-- goes to coders, and how good the model was on its validation split (and, once coders answered, on review).
-- counts_add_up checks that every coded record has exactly one decision.
with current_model as (
    select * from {{ source('gold', 'coding_models') }} where is_current
),
decisions as (
    select
        classification,
        count(*) as records,
        count(*) filter (where decision = 'auto') as auto_coded,
        count(*) filter (where decision = 'manual') as to_review,
        count(*) filter (where decision = 'human') as coded_in_review,
        count(*) filter (where decision = 'invalid') as invalid,
        avg(confidence) filter (where decision in ('auto', 'manual')) as mean_confidence,
        count(*) filter (where decision = 'manual' and backoff_code is not null) as with_reliable_prefix
    from {{ source('gold', 'coded_records') }}
    group by classification
),
queue as (
    select classification,
        count(*) as queue_rows,
        count(*) filter (where reason = 'audit') as audit_rows
    from {{ source('gold', 'coding_review_queue') }}
    group by classification
),
review as (
    -- agreement of the model's suggestions with the coders, at the finest level measured
    select classification, model_version, n as reviewed, accuracy as review_accuracy,
        auto_precision as audited_auto_precision
    from {{ source('gold', 'coding_quality') }}
    where split = 'review'
    qualify row_number() over (partition by classification, model_version order by length(level) desc, level desc) = 1
)
select
    m.classification,
    m.model_version,
    m.trained_at,
    m.n_train,
    m.threshold,
    m.val_accuracy,
    m.val_auto_share,
    m.val_auto_precision,
    coalesce(d.records, 0) as records,
    coalesce(d.auto_coded, 0) as auto_coded,
    coalesce(d.to_review, 0) as to_review,
    coalesce(d.coded_in_review, 0) as coded_in_review,
    coalesce(d.invalid, 0) as invalid,
    case when coalesce(d.records, 0) > 0 then d.auto_coded::double / d.records end as auto_share,
    d.mean_confidence,
    coalesce(d.with_reliable_prefix, 0) as with_reliable_prefix,
    coalesce(q.queue_rows, 0) as queue_rows,
    coalesce(q.audit_rows, 0) as audit_rows,
    r.reviewed,
    r.review_accuracy,
    r.audited_auto_precision,
    coalesce(d.records, 0) = coalesce(d.auto_coded, 0) + coalesce(d.to_review, 0) + coalesce(d.coded_in_review, 0)
        + coalesce(d.invalid, 0) as counts_add_up
from current_model m
left join decisions d using (classification)
left join queue q using (classification)
left join review r on r.classification = m.classification and r.model_version = m.model_version
