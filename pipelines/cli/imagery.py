"""``fmlake imagery``: run the tile -> object chain, benchmark it, evaluate it (no Dagster)."""

from __future__ import annotations

import json
import os

import click


def _segmenter(segmenter: str, checkpoint: str | None, model_type: str | None, device: str | None,
               points_per_side: int | None):
    from resources.segmenter import build_segmenter

    env = os.environ
    return build_segmenter(
        segmenter,
        model_type=model_type or env.get("IMAGERY_SAM_MODEL_TYPE", "vit_b"),
        checkpoint=checkpoint or env.get("IMAGERY_SAM_CHECKPOINT") or None,
        device=device or env.get("IMAGERY_SAM_DEVICE", "cpu"),
        points_per_side=points_per_side or int(env.get("IMAGERY_SAM_POINTS_PER_SIDE", "32")),
        pred_iou_thresh=float(env.get("IMAGERY_SAM_PRED_IOU_THRESH", "0.88")),
        stability_score_thresh=float(env.get("IMAGERY_SAM_STABILITY_SCORE_THRESH", "0.95")),
    )


def _namer(namer: str, model: str | None, checkpoint: str | None):
    from resources.namer import build_namer

    env = os.environ
    return build_namer(namer, model=model or env.get("IMAGERY_NAMER_MODEL", ""),
                       host=env.get("OLLAMA_HOST", "http://127.0.0.1:11434"),
                       checkpoint=checkpoint or env.get("IMAGERY_NAMER_CHECKPOINT", ""),
                       device=env.get("IMAGERY_NAMER_DEVICE", "cpu"))


@click.group()
def cli() -> None:
    """Satellite tiles: segmentation, features, clustering, naming, georeferenced objects."""


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(exists=True), help="A tile or a folder of tiles.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Folder for objects, quicklooks, summaries.")
@click.option("--segmenter", type=click.Choice(["default", "sam"]), default="default", show_default=True)
@click.option("--checkpoint", default=None, help="SAM checkpoint (.pth) for --segmenter sam.")
@click.option("--model-type", default=None, help="SAM model type: vit_b | vit_l | vit_h (default IMAGERY_SAM_MODEL_TYPE or vit_b).")
@click.option("--device", default=None, help="torch device for SAM (cpu, cuda).")
@click.option("--points-per-side", type=int, default=None, help="SAM automatic mask generator grid.")
@click.option("--namer", type=click.Choice(["rules", "ollama", "transformers"]), default="rules", show_default=True)
@click.option("--namer-model", default=None, help="Ollama vision model for --namer ollama.")
@click.option("--namer-checkpoint", default=None, help="Local checkpoint folder for --namer transformers.")
@click.option("--band-roles", default=None, help='Band roles by position, e.g. "blue,green,red,nir".')
@click.option("--window", type=int, default=512, show_default=True, help="Window (core) size in pixels.")
@click.option("--overlap", type=int, default=32, show_default=True, help="Window overlap (halo) in pixels.")
@click.option("--min-area", type=int, default=16, show_default=True, help="Smallest mask kept, in pixels.")
@click.option("--k-min", type=int, default=6, show_default=True)
@click.option("--k-max", type=int, default=12, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def run(input_path, out_dir, segmenter, checkpoint, model_type, device, points_per_side, namer, namer_model,
        namer_checkpoint, band_roles, window, overlap, min_area, k_min, k_max, as_json) -> None:
    """Run tiles -> masks -> clusters -> names -> objects (GeoParquet + GeoJSON, CRS kept) and quicklooks."""
    from assets.imagery.pipeline import ClusterSettings, run_chain
    from assets.imagery.segmentation import SegmentOptions

    try:
        options = SegmentOptions(window_size=window, window_overlap=overlap, min_area_px=min_area)
        seg = _segmenter(segmenter, checkpoint, model_type, device, points_per_side)
        if hasattr(seg, "validate"):
            seg.validate()  # a wrong checkpoint path fails here, before any tile is read
        nm = _namer(namer, namer_model, namer_checkpoint)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    report = run_chain(input_path, out_dir, seg, nm, options=options,
                       band_roles=band_roles or os.environ.get("IMAGERY_BAND_ROLES") or None,
                       clusters=ClusterSettings(k_min=k_min, k_max=k_max))
    if as_json:
        click.echo(json.dumps(report, default=str))
        return
    click.echo(f"{report['tiles']} tiles ({len(report['tiles_skipped'])} skipped), {report['masks']} masks, "
               f"k={report['k']}, {report['seconds']} s, peak RSS {report['peak_rss_mb']} MB")
    for label, v in report["labels"].items():
        click.echo(f"  {label:<11} {v['objects']:>7} objects  {v['share']:>6.1%}")
    for s in report["tiles_skipped"]:
        click.echo(f"  skipped {s['tile_id']}: {s['reason']}")
    click.echo(f"outputs in {out_dir}")


@cli.command()
@click.option("--sizes", default="2000,10000", show_default=True, help="Square raster sizes to generate.")
@click.option("--tile-seconds-size", default=512, show_default=True, help="Tile side for the per-tile timing.")
@click.option("--workdir", default=None, help="Where to generate rasters (default: a temp dir, removed after).")
@click.option("--json", "as_json", is_flag=True)
def bench(sizes, tile_seconds_size, workdir, as_json) -> None:
    """Generate synthetic 4-band rasters and run the chain on each in a fresh process: seconds and peak RSS.

    Also times the default segmenter on a 512² tile. Memory target: peak RSS for 10,000² within
    1.5x of 2,000²."""
    from assets.imagery.bench import run_benchmark

    result = run_benchmark([int(s) for s in sizes.split(",")], tile_size=tile_seconds_size, workdir=workdir)
    click.echo(json.dumps(result, indent=None if as_json else 2))


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(exists=True))
@click.option("--out", "out_dir", required=True, type=click.Path())
@click.option("--min-water", default=0.05, show_default=True,
              help="A tile 'contains sea or marsh' when at least this share of its pixels has NDWI > 0.")
@click.option("--json", "as_json", is_flag=True)
def evaluate(input_path, out_dir, min_water, as_json) -> None:
    """Run the chain (default segmenter, rules namer) and compare the area labelled water with NDWI > 0 (IoU)."""
    from assets.imagery.bench import water_iou
    from assets.imagery.pipeline import run_chain

    report = run_chain(input_path, out_dir, _segmenter("default", None, None, None, None), _namer("rules", None, None),
                       band_roles=os.environ.get("IMAGERY_BAND_ROLES") or None, keep_masks=True)
    ious = water_iou(out_dir, report, min_water=min_water)
    result = {"tiles": report["tiles"], "masks": report["masks"], "k": report["k"], "labels": report["labels"],
              "water_iou": ious, "seconds": report["seconds"], "seconds_per_tile": report["seconds_per_tile"]}
    click.echo(json.dumps(result, indent=None if as_json else 2, default=str))
