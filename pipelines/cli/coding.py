"""``fmlake coding``: evaluate, train, predict and list classifications from the command line.

Heavy imports (scikit-learn, the engine) happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pipelines.settings import EMBEDDER_BACKENDS


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from None


def _setup(classification: str | None, train_path: str, text_col: str, code_col: str, time_col: str | None,
           context_cols: str | None, target_precision: float | None, overrides: dict):
    """Config + catalogue + column choices shared by evaluate/train."""
    from assets.coding.catalog import load_catalog
    from assets.coding.config import generic_config, load_config
    from assets.coding.evaluate import read_csv

    header = read_csv(train_path, n_rows=0).columns
    if time_col == "auto":
        time_col = None
    codes = read_csv(train_path, columns=[code_col]).get_column(code_col) \
        .drop_nulls().str.strip_chars().unique().to_list() if code_col in header else []
    if classification in (None, "", "auto"):
        classification = detect_classification(codes)
    if classification and classification != "none":
        config = load_config(classification)
        catalog = load_catalog(config)
        if time_col is None and config.source and config.source.time in header:
            time_col = config.source.time
        ctx_default = [c for c in (config.source.context if config.source else ()) if c in header]
    else:
        config = generic_config(codes)
        catalog = None
        ctx_default = []
    if time_col is None and "year" in header:
        time_col = "year"
    if context_cols is None:
        contexts = ctx_default
    else:
        contexts = [c.strip() for c in context_cols.split(",") if c.strip()]
    config = config.with_engine(target_precision=target_precision, **overrides)
    return config, catalog, time_col, contexts


def _columns(path: str) -> list[str]:
    """A CSV's header ([] when the file is missing or malformed: read_records reports it with its name)."""
    from assets.coding.evaluate import InputError, read_csv

    try:
        return read_csv(path, n_rows=0).columns
    except InputError:
        return []


def detect_classification(codes: list[str], min_share: float = 0.95) -> str:
    """The shipped classification whose catalogue lists at least ``min_share`` of the file's codes, else 'none'."""
    from assets.coding.catalog import load_catalog
    from assets.coding.config import available, load_config

    if not codes:
        return "none"
    best, best_share = "none", 0.0
    for name in available():
        config = load_config(name)
        listed = set(load_catalog(config).assignable())
        share = sum(c in listed for c in codes) / len(codes)
        if share >= min_share and share > best_share:
            best, best_share = name, share
    return best


@click.group()
def cli() -> None:
    """Automatic coding of free text into a classification (SCIAN, crime types, any config)."""


@cli.command("classifications")
def classifications() -> None:
    """List the shipped classification configs."""
    from assets.coding.catalog import load_catalog
    from assets.coding.config import available, load_config

    for name in available():
        config = load_config(name)
        click.echo(f"{name:<14} {len(load_catalog(config)):>5} codes  levels={list(config.levels) or 'flat'}  "
                   f"{config.title}")


_common = [
    click.option("--text-col", default="text", show_default=True),
    click.option("--code-col", default="code", show_default=True),
    click.option("--time-col", default="auto", show_default=True,
                 help="Column with the year or date of each record (recency weighting, time validation). "
                      "auto: the config's time column, else 'year' if present; '' for none."),
    click.option("--context-cols", default=None,
                 help="Comma-separated context columns (default: the config's, e.g. state,municipality)."),
    click.option("--classification", default="auto", show_default=True,
                 help="Shipped config name (scian, crime_types), a YAML path, 'none' (the training file's codes, "
                      "no catalogue) or 'auto' (the shipped config whose catalogue lists >= 95% of the codes)."),
    click.option("--target-precision", type=float, default=None,
                 help="Precision the auto-coding threshold must reach on validation (default: config, 0.95)."),
]


def _with_common(fn):
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


@cli.command("evaluate")
@click.option("--train", "train_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--test", "test_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Test file (required unless --time-splits, which splits --train).")
@click.option("--train-years", default=None, help="Keep only these years of --train, e.g. 2008-2014.")
@click.option("--test-years", default=None, help="Keep only these years of --test, e.g. 2017,2019.")
@click.option("--time-splits", default=None,
              help="Evaluate several time splits of --train and print one row each: LAST_TRAIN_YEAR:TEST_YEARS, "
                   "comma-separated, e.g. 2013:2014,2014:2017,2017:2019 (train on every year up to the first, "
                   "test on the second).")
@_with_common
@click.option("--embeddings", default=None, type=click.Choice(list(EMBEDDER_BACKENDS)),
              help="Add sentence-embedding kNN votes (slow on CPU; off by default).")
@click.option("--reestimate-batches", type=int, default=None,
              help="Also replay the review loop: the test rows in a seeded random order, cut into N batches; "
                   "batch 1 coded with the fit's threshold, each later one with the threshold re-estimated from "
                   "the decisions on the batches before it (their manual records and audit sample).")
@click.option("--audit-rate", type=float, default=None,
              help="Share of auto-coded records audited in the replay (default: the review queue's, 0.02).")
@click.option("--reestimate-seed", type=int, default=0, show_default=True,
              help="Seed of the replay's record order and audit draws.")
@click.option("--reestimate-min-decisions", type=int, default=None,
              help="Decisions before the replay re-estimates the threshold (default: the pipeline's, "
                   "CodingConfig.reestimate_min_decisions).")
@click.option("--reestimate-repeats", type=int, default=1, show_default=True,
              help="Replay R orders (seeds SEED..SEED+R-1, no retraining) and print the spread of batches 2..N.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (a list of them with --time-splits).")
def evaluate_cmd(train_path, test_path, train_years, test_years, time_splits, text_col, code_col, time_col,
                 context_cols, classification, target_precision, embeddings, reestimate_batches, audit_rate,
                 reestimate_seed, reestimate_min_decisions, reestimate_repeats, as_json) -> None:
    """Train on one file and evaluate on another (the threshold is chosen on the training data only).

    The dev split of the RETC benchmark comes from one file:
    --train F --test F --train-years 2008-2014 --test-years 2017,2019;
    the time splits of issue 16: --train F --time-splits 2013:2014,2014:2017,2017:2019
    (add --reestimate-batches 5 for the threshold re-estimated from coders' decisions).
    """
    from assets.coding.evaluate import InputError, evaluate, parse_years, read_records

    extra = _replay(reestimate_batches, audit_rate, reestimate_seed, reestimate_repeats, reestimate_min_decisions)
    if time_splits is not None:
        if test_path or train_years or test_years:
            raise click.UsageError("--time-splits splits --train by year: give no --test, --train-years or "
                                   "--test-years with it")
        _evaluate_time_splits(train_path, time_splits, text_col, code_col, time_col, context_cols, classification,
                              target_precision, embeddings, as_json, extra)
        return
    if test_path is None:
        raise click.UsageError("give --test (or --time-splits to split --train by year)")
    try:
        if time_col == "":
            time_col = None
        config, catalog, tcol, contexts = _setup(classification, train_path, text_col, code_col, time_col,
                                                 context_cols, target_precision,
                                                 {"embeddings_backend": embeddings})
        train = read_records(train_path, text_col, code_col, tcol, contexts, parse_years(train_years))
        # the test file needs only text and code: a time column when --test-years filters on it, and the
        # context columns the user named; default context columns it lacks are left out (and said so)
        test_header = _columns(test_path)
        test_tcol = tcol if tcol and (tcol in test_header or test_years) else None
        test_ctx = contexts if context_cols is not None else [c for c in contexts if c in test_header]
        test = read_records(test_path, text_col, code_col, test_tcol, test_ctx, parse_years(test_years))
        if train.height == 0 or test.height == 0:
            raise InputError(f"empty split: {train.height} training rows, {test.height} test rows")
        log = (lambda m: click.echo(m, err=True)) if not as_json else None
        metrics = evaluate(train, test, config, catalog, log=log, extra=extra)
    except (InputError, ValueError) as exc:
        _fail(exc)
    lacking = [c for c in contexts if c not in test_ctx]
    if lacking:
        metrics["notes"].append(f"the test file has no column(s) {lacking}: its records were coded without "
                                "that context")
    metrics["command"] = {"train": str(train_path), "test": str(test_path), "train_years": train_years,
                          "test_years": test_years, "text_col": text_col, "code_col": code_col,
                          "time_col": tcol, "context_cols": contexts}
    if as_json:
        click.echo(json.dumps(metrics, ensure_ascii=False))
        return
    for key in ("accuracy", "accuracy_by_level", "auto_share", "auto_precision", "oracle_auto_share",
                "calibration_efficiency", "expected_auto_precision", "macro_f1", "train_seconds",
                "predict_rows_per_second", "n_train", "n_test", "n_train_invalid", "threshold", "drift"):
        click.echo(f"{key:>24}: {metrics[key]}")
    if extra is not None:
        _echo_replay(metrics[extra.name])


SPLIT_COLUMNS = ("accuracy", "auto_share", "auto_precision", "oracle_auto_share", "calibration_efficiency",
                 "threshold", "train_seconds", "predict_rows_per_second")


def _replay(batches, audit_rate, seed, repeats, min_decisions=None):
    """The review-loop replay ``evaluate`` adds (None without --reestimate-batches); bad settings fail here,
    before any file is read."""
    from assets.coding.evaluate import InputError
    from assets.coding.simulation import AUDIT_RATE, ReestimationSimulation
    from assets.coding.thresholds import MIN_DECISIONS

    if batches is None:
        if audit_rate is not None or repeats != 1 or min_decisions is not None:
            raise click.UsageError("--audit-rate, --reestimate-repeats and --reestimate-min-decisions are the "
                                   "replay's: give --reestimate-batches with them")
        return None
    try:   # the count and rate here; the count against the test rows once they are read, before training
        return ReestimationSimulation(batches, AUDIT_RATE if audit_rate is None else audit_rate, seed, repeats,
                                      MIN_DECISIONS if min_decisions is None else min_decisions)
    except InputError as exc:
        _fail(exc)


def _echo_replay(sim: dict, label: str | None = None) -> None:
    """The replay as a table: one row per batch, then batches 2..N with the re-estimated and the fit's threshold."""
    from assets.coding.simulation import SPREAD_KEYS

    head = f"split {label}: " if label else ""
    click.echo(f"\n{head}threshold re-estimated from decisions: {sim['batches']} batches (seed {sim['seed']}), "
               f"audit rate {sim['audit_rate']}, target precision {sim['target_precision']}, re-estimated once "
               f"{sim['min_decisions']} records are decided")
    cols = ("threshold", "auto_share", "auto_precision", "n_reviews", "n_audits")
    click.echo(f"{'batch':>13} {'n':>6} " + " ".join(f"{c:>14}" for c in cols) + "  source")
    for b in sim["per_batch"]:
        click.echo(f"{b['batch']:>13} {b['n']:>6} " + " ".join(f"{_cell(b[c]):>14}" for c in cols)
                   + f"  {b['threshold_source']}")
    cols = ("auto_share", "auto_precision", "oracle_auto_share", "calibration_efficiency")
    click.echo(f"{'batches 2..N':>13} {'n':>6} " + " ".join(f"{c:>22}" for c in cols))
    for name, key in (("re-estimated", "later_batches"), ("fit's", "later_batches_fit_threshold")):
        m = sim[key]
        click.echo(f"{name:>13} {m['n']:>6} " + " ".join(f"{_cell(m[c]):>22}" for c in cols))
    rep = sim.get("repeats")
    if rep:
        seeds = rep["seeds"]
        click.echo(f"{'':>13} re-estimated, batches 2..N over seeds {seeds[0]}..{seeds[-1]} (min / mean / max): "
                   + ", ".join(f"{k} " + (" / ".join(_cell(rep[k][s]) for s in ("min", "mean", "max"))
                                          if rep[k] else "-") for k in SPREAD_KEYS)
                   + (f" ({rep['n_without_auto']} replays with no auto-coded record)" if rep["n_without_auto"] else ""))


def _evaluate_time_splits(path, spec, text_col, code_col, time_col, context_cols, classification, target_precision,
                          embeddings, as_json, extra=None) -> None:
    """``evaluate --time-splits``: read the register, ``evaluate_time_splits``, print one row per split."""
    from assets.coding.evaluate import InputError, evaluate_time_splits, parse_time_splits, read_records

    try:
        splits = parse_time_splits(spec)
        if time_col == "":
            raise InputError("--time-splits needs a time column (--time-col)")
        config, catalog, tcol, contexts = _setup(classification, path, text_col, code_col, time_col, context_cols,
                                                 target_precision, {"embeddings_backend": embeddings})
        if not tcol:
            raise InputError(f"{path}: no time column to split by (--time-col)")
        rows = read_records(path, text_col, code_col, tcol, contexts)
        log = (lambda m: click.echo(m, err=True)) if not as_json else None
        results = evaluate_time_splits(rows, splits, config, catalog, log=log, extra=extra)
    except (InputError, ValueError) as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False))
        return
    click.echo(f"{'split':<16} {'n_train':>7} {'n_test':>6} " + " ".join(f"{c:>{max(len(c), 7)}}" for c in SPLIT_COLUMNS))
    for m in results:
        cells = " ".join(f"{_cell(m[c]):>{max(len(c), 7)}}" for c in SPLIT_COLUMNS)
        click.echo(f"{m['split']['label']:<16} {m['n_train']:>7} {m['n_test']:>6} {cells}")
    if extra is not None:
        for m in results:
            _echo_replay(m[extra.name], m["split"]["label"])


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) and abs(value) < 10 else str(value)


@cli.command("train")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV of coded records.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the model (model.pkl, metrics.json, config.json).")
@click.option("--years", default=None, help="Keep only these years, e.g. 2008-2014.")
@_with_common
def train_cmd(data_path, out_dir, years, text_col, code_col, time_col, context_cols, classification,
              target_precision) -> None:
    """Train a model on a CSV of coded records and save it (rows refused are listed in invalid_rows.csv)."""
    from assets.coding.engine import CodingEngine
    from assets.coding.evaluate import InputError, parse_years, prepare_training, read_records
    from assets.coding.registry import write_artifact_files

    try:
        if time_col == "":
            time_col = None
        config, catalog, tcol, contexts = _setup(classification, data_path, text_col, code_col, time_col,
                                                 context_cols, target_precision, {})
        raw = read_records(data_path, text_col, code_col, tcol, contexts, parse_years(years))
        prepared = prepare_training(raw, config, catalog)
        if prepared.records.height == 0:
            raise InputError(f"{data_path}: no usable training rows ({prepared.invalid_counts()})")
        engine = CodingEngine(config, catalog)
        report = engine.fit(prepared.records, log=lambda m: click.echo(m, err=True))
    except (InputError, ValueError) as exc:
        _fail(exc)
    out = Path(out_dir)
    engine.save(out)
    meta = {"text_col": text_col, "time_col": tcol, "context_cols": contexts, "data": str(data_path),
            "n_invalid": prepared.invalid_counts()}
    write_artifact_files(out, engine, report, meta)
    if prepared.invalid.height:
        prepared.invalid.write_csv(out / "invalid_rows.csv")
    click.echo(json.dumps({"model": str(out), "n_train": report.n_records, "threshold": report.threshold,
                           "invalid_rows": prepared.invalid_counts(), "seconds": report.seconds,
                           "validation": report.validation}, ensure_ascii=False, indent=2))


@cli.command("predict")
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False))
@click.option("--id-col", default=None, help="Column to copy to the output as the record id.")
@click.option("--text-col", default=None, help="Default: the column the model was trained with.")
def predict_cmd(model_dir, input_path, output_path, id_col, text_col) -> None:
    """Code a CSV with a saved model: code, confidence, top-5, auto/manual/invalid, back-off prefix."""
    import time

    from assets.coding.engine import EngineError, context_string, load_engine
    from assets.coding.evaluate import InputError, read_csv

    folder = Path(output_path).parent
    if not folder.is_dir():  # before the work, not after it
        raise click.ClickException(f"{output_path}: the folder {folder} does not exist")
    try:
        engine = load_engine(model_dir)
        meta = _model_columns(Path(model_dir))
        text_col = text_col or meta["text_col"]
        df = read_csv(input_path)
        need = [text_col, *([id_col] if id_col else [])]
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise click.ClickException(f"{input_path}: missing column(s) {missing} (has {df.columns})")
        # context columns the model learned from but the file lacks are left out, as `evaluate` does
        context_cols = [c for c in meta["context_cols"] if c in df.columns]
        lacking = [c for c in meta["context_cols"] if c not in df.columns]
        if id_col:
            taken = engine.predict([], [] if meta["context_cols"] else None).to_frame().columns
            if id_col in taken:
                raise click.ClickException(
                    f"--id-col {id_col!r} ({input_path}) has the name of an output column ({', '.join(taken)}); "
                    "copy or rename it in the input, e.g. record_id")
        contexts = [context_string({c: r[c] for c in context_cols})
                    for r in df.select(context_cols).iter_rows(named=True)] if context_cols else None
        t0 = time.perf_counter()
        pred = engine.predict(df.get_column(text_col).to_list(), contexts)
        seconds = time.perf_counter() - t0
    except (EngineError, InputError) as exc:
        _fail(exc)
    out = pred.to_frame()
    if id_col:
        out = out.with_columns(df.get_column(id_col).alias(id_col)).select([id_col, *out.columns])
    try:
        out.write_csv(output_path)
    except OSError as exc:
        raise click.ClickException(f"{output_path}: cannot write: {exc.strerror or exc}") from None
    counts = out.group_by("decision").len().sort("decision")
    notes = [f"the input has no column(s) {lacking} the model was trained with: its records were coded "
             "without that context"] if lacking else []
    click.echo(json.dumps({"rows": out.height, "rows_per_second": round(out.height / max(seconds, 1e-9), 1),
                           "decisions": {d: int(n) for d, n in counts.iter_rows()}, "output": str(output_path),
                           "notes": notes}))


def _model_columns(model_dir: Path) -> dict:
    """The columns a saved model was trained with (its config.json), or a ClickException naming the file."""
    path = model_dir / "config.json"
    try:
        columns = json.loads(path.read_text(encoding="utf-8"))["columns"]
        return {"text_col": columns["text_col"], "context_cols": list(columns["context_cols"])}
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{path}: not a model config written by 'fmlake coding train' ({exc!r})") from None


@cli.command("bench")
@click.option("--register", "register_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A coded register (the RETC file): trained on whole, then predicted.")
@_with_common
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_cmd(register_path, text_col, code_col, time_col, context_cols, classification, target_precision,
              as_json) -> None:
    """Training seconds (hyperparameter selection and calibration included) and prediction records/s."""
    from assets.coding.bench import coding_benchmark
    from assets.coding.evaluate import InputError, read_records

    try:
        if time_col == "":
            time_col = None
        config, catalog, tcol, contexts = _setup(classification, register_path, text_col, code_col, time_col,
                                                 context_cols, target_precision, {})
        rows = read_records(register_path, text_col, code_col, tcol, contexts)
        result = coding_benchmark(rows, config, catalog,
                                  log=(lambda m: click.echo(m, err=True)) if not as_json else None)
    except (InputError, ValueError) as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    for key in ("n_records", "train_seconds", "train_cpu_seconds", "predict_records_per_second", "predict_distinct_records_per_second",
                "targets", "machine"):
        click.echo(f"{key:>36}: {result[key]}")

# ---------------------------------------------------------------- the coder's workbench
def catalogue_search(classifications: dict, embedder) -> "callable":
    """The search application's hybrid engine over each classification's catalogue (one index per
    classification, its codes only): ``(classification, query, k) -> [{code, title, score}]``."""
    import polars as pl

    from assets.search.corpus import DOC_SCHEMA
    from assets.search.engine import SearchIndex

    indexes = {}
    for name, (_, catalog) in classifications.items():
        rows = [{"doc_id": f"{name}:{code}", "doc_type": "document", "ref": code, "title": catalog.entries[code].title,
                 "body": "; ".join(catalog.entries[code].aliases), "url": None, "source": name, "examples": []}
                for code in catalog.assignable()]
        if rows:
            frame = pl.DataFrame(rows).with_columns(
                [pl.lit(None, dtype=t).alias(c) for c, t in DOC_SCHEMA.items() if c not in rows[0]])
            indexes[name] = SearchIndex.build(frame.select(list(DOC_SCHEMA)).cast(DOC_SCHEMA), embedder)

    def search(classification: str, query: str, k: int) -> list[dict]:
        index = indexes.get(classification)
        if index is None:
            return []
        return [{"code": h.ref, "title": h.title, "score": round(float(h.score), 4)}
                for h in index.search(query, "hybrid", k)]

    return search


def load_classifications(names) -> dict:
    from assets.coding.catalog import load_catalog
    from assets.coding.config import load_config

    out = {}
    for name in names:
        cfg = load_config(name)
        out[cfg.name] = (cfg, load_catalog(cfg))
    return out


@cli.group("workbench")
def workbench() -> None:
    """The coder's workbench: a page and a JSON API over the review queue."""


@workbench.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=None, type=int, help="Port (default FMLAKE_CODING_WORKBENCH_PORT, 8040).")
@click.option("--classification", "names", multiple=True, default=("scian", "crime_types"), show_default=True,
              help="Classification served (repeatable): shipped config name or YAML path.")
@click.option("--claim-minutes", default=None, type=float,
              help="How long a record handed to a coder stays claimed (default FMLAKE_CODING_CLAIM_MINUTES, 10).")
@click.option("--embedder", "backend", type=click.Choice(list(EMBEDDER_BACKENDS)), default=None,
              help="Embedder of the catalogue search (default: SEARCH_EMBEDDER or 'use').")
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="A name:port the page is reached by (repeatable); default: the bound address (and localhost).")
def workbench_serve(host: str, port: int, names: tuple[str, ...], claim_minutes: float, backend: str | None,
                    allowed_hosts: tuple[str, ...]) -> None:
    """Serve the workbench (claims, decisions appended to silver.coding_feedback, catalogue search, stats)."""
    from assets.coding.config import ConfigError
    from assets.coding.workbench import Workbench, make_server
    from pipelines.cli import current_settings
    from pipelines.cli.search import _embedder
    from pipelines.serving import serve_until_interrupted

    try:
        classifications = load_classifications(names)
    except (ConfigError, ValueError) as exc:
        _fail(exc)
    settings = current_settings()
    lh = settings.lakehouse()
    minutes = settings.coding.claim_minutes if claim_minutes is None else claim_minutes
    bench = Workbench(lh, classifications, catalogue_search(classifications, _embedder(backend)),
                      claim_seconds=minutes * 60)
    server = make_server(bench, host, settings.coding.workbench_port if port is None else port,
                         allowed_hosts=set(allowed_hosts) or None)
    click.echo(f"coder's workbench for {lh.root} at http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)")
    serve_until_interrupted(server)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
