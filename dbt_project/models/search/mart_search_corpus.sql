{{ config(materialized='external') }}
-- What the search engine indexes, per document type: documents, how many carry example descriptions, the
-- vectors behind them (per embedding model) and average text lengths. One row per (doc_type, model).
with docs as (
    select doc_type, doc_id, n_examples, length(title) as title_chars, length(body) as body_chars
    from {{ source('search', 'search_documents') }}
),
vectors as (
    select doc_id, model,
           count(*) filter (where kind = 'document') as document_vectors,
           count(*) filter (where kind = 'example') as example_vectors,
           max(dim) as dim
    from {{ source('search', 'search_embeddings') }}
    group by doc_id, model
)
select
    d.doc_type,
    coalesce(v.model, '(none)') as model,
    count(*) as documents,
    count(*) filter (where d.n_examples > 0) as documents_with_examples,
    cast(sum(d.n_examples) as bigint) as examples,
    cast(coalesce(sum(v.document_vectors), 0) as bigint) as document_vectors,
    cast(coalesce(sum(v.example_vectors), 0) as bigint) as example_vectors,
    max(v.dim) as dim,
    round(avg(d.title_chars), 1) as avg_title_chars,
    round(avg(d.body_chars), 1) as avg_body_chars
from docs d
left join vectors v using (doc_id)
group by d.doc_type, coalesce(v.model, '(none)')
order by d.doc_type, model
