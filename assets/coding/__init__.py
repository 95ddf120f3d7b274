"""Automatic coding ("codificación automática"): free text -> a code of any classification.

A classification is a YAML config (``configs/*.yaml``: catalogue, code levels, source table, engine
settings); ``scian`` and ``crime_types`` ship with the package. The default engine
(``engine.CodingEngine``) is TF-IDF characters + words + context with a LinearSVC, recency weights
against label drift, a near-duplicate memory of human codes, catalogue titles as examples and for
retrieval, calibrated confidence with a threshold chosen on a validation split of the training data,
and back-off to the reliable code prefix. Optional: sentence-embedding kNN votes
(``embeddings_backend``), fine-tuning a local transformer checkpoint (``backend: transformer``),
and an Ollama LLM re-ranking the top-3 of doubtful records (``rerank``).

Run book::

    fmlake coding classifications
    fmlake coding evaluate --train F.csv --test G.csv --json
    fmlake coding evaluate --train F.csv --test F.csv --train-years 2008-2014 --test-years 2017,2019 --json
    fmlake coding train --data coded.csv --out models/scian && fmlake coding predict --model models/scian \\
        --input todo.csv --output coded.csv --id-col record_id

In the pipeline (group ``coding``): silver.coding_feedback, silver.coding_training_set,
gold.coding_models (artifacts under ``<root>/models/coding/``), gold.coded_records,
gold.coding_review_queue (CSV export for coders under ``<root>/exports/coding_review/``),
gold.coding_quality; coders' files dropped in ``landing/coding_feedback/`` trigger retraining
(``coding_feedback_sensor``).
"""
