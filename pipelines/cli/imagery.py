"""``fmlake imagery``: run the tile -> object chain, benchmark it, evaluate it (no Dagster)."""

from __future__ import annotations

import json

import click


def _segmenter(**overrides):
    """The segmenter resource of the settings (IMAGERY_* variables), with the command's flags on top."""
    from pipelines.cli import current_settings
    from pipelines.resources import segmenter_resource

    return segmenter_resource(current_settings(), **overrides)


def _namer(**overrides):
    """The namer resource of the settings (flags override); `namer_for` builds the namer from it."""
    from pipelines.cli import current_settings
    from pipelines.resources import namer_resource

    return namer_resource(current_settings(), **overrides)


def namer_for(resource):
    """The namer the resource configures (the imagery domain builds it; imported on use, not at CLI start)."""
    from assets.imagery.naming import namer_for as build

    return build(resource)


@click.group()
def cli() -> None:
    """Satellite tiles: segmentation, features, clustering, naming, georeferenced objects."""


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(exists=True), help="A tile or a folder of tiles.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Folder for objects, quicklooks, summaries.")
@click.option("--segmenter", type=click.Choice(["default", "sam"]), default=None, help="Default IMAGERY_SEGMENTER.")
@click.option("--checkpoint", default=None, help="SAM checkpoint (.pth) for --segmenter sam.")
@click.option("--model-type", default=None, help="SAM model type: vit_b | vit_l | vit_h (default IMAGERY_SAM_MODEL_TYPE or vit_b).")
@click.option("--device", default=None, help="torch device for SAM (cpu, cuda).")
@click.option("--points-per-side", type=int, default=None, help="SAM automatic mask generator grid.")
@click.option("--namer", type=click.Choice(["rules", "ollama", "transformers"]), default=None,
              help="Default IMAGERY_NAMER.")
@click.option("--namer-model", default=None, help="Ollama vision model for --namer ollama.")
@click.option("--namer-checkpoint", default=None, help="Local checkpoint folder for --namer transformers.")
@click.option("--band-roles", default=None, help='Band roles by position, e.g. "blue,green,red,nir".')
@click.option("--window", type=int, default=None, help="Window (core) size in pixels (IMAGERY_WINDOW_SIZE).")
@click.option("--overlap", type=int, default=None, help="Window overlap (halo) in pixels (IMAGERY_WINDOW_OVERLAP).")
@click.option("--min-area", type=int, default=None, help="Smallest mask kept, in pixels (IMAGERY_MIN_MASK_AREA_PX).")
@click.option("--k-min", type=int, default=None, help="Fewest clusters (IMAGERY_K_MIN).")
@click.option("--k-max", type=int, default=None, help="Most clusters (IMAGERY_K_MAX).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def run(input_path, out_dir, segmenter, checkpoint, model_type, device, points_per_side, namer, namer_model,
        namer_checkpoint, band_roles, window, overlap, min_area, k_min, k_max, as_json) -> None:
    """Run tiles -> masks -> clusters -> names -> objects (GeoParquet + GeoJSON, CRS kept) and quicklooks."""
    from assets.imagery.pipeline import ClusterSettings, run_chain
    from assets.imagery.segmentation import SegmentOptions

    try:
        seg_resource = _segmenter(backend=segmenter, sam_checkpoint=checkpoint, sam_model_type=model_type,
                                  sam_device=device, sam_points_per_side=points_per_side, band_roles=band_roles,
                                  window_size=window, window_overlap=overlap, min_mask_area_px=min_area)
        seg = seg_resource.get()
        if hasattr(seg, "validate"):
            seg.validate()  # a wrong checkpoint path fails here, before any tile is read
        namer_resource = _namer(backend=namer, model=namer_model, checkpoint=namer_checkpoint, k_min=k_min,
                                k_max=k_max)
        nm = namer_for(namer_resource)
        options = SegmentOptions.of(seg_resource)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    report = run_chain(input_path, out_dir, seg, nm, options=options,
                       band_roles=seg_resource.band_roles or None,
                       clusters=ClusterSettings(k_min=namer_resource.k_min, k_max=namer_resource.k_max))
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

    seg_resource = _segmenter(backend="default")
    report = run_chain(input_path, out_dir, seg_resource.get(), namer_for(_namer(backend="rules")),
                       band_roles=seg_resource.band_roles or None, keep_masks=True)
    ious = water_iou(out_dir, report, min_water=min_water)
    result = {"tiles": report["tiles"], "masks": report["masks"], "k": report["k"], "labels": report["labels"],
              "water_iou": ious, "seconds": report["seconds"], "seconds_per_tile": report["seconds_per_tile"]}
    click.echo(json.dumps(result, indent=None if as_json else 2, default=str))
