"""Model promotion policy of the coding domain: may a newly trained model replace the previous one?

A new model passes when neither its validation accuracy nor its auto-coding precision (both measured
on the validation split each model was calibrated on) falls more than ``tolerance`` below the previous
model's. One tolerance for both: a model that codes worse or automates less precisely than allowed is
flagged (the ``model_quality_vs_previous`` check, WARN). A figure the previous model lacks (no
validation, no auto-coded record) cannot be compared and does not fail; a new model without auto
precision where the previous one had it does fail (it automates nothing any more).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

DEFAULT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Promotion:
    ok: bool
    accuracy_ok: bool
    precision_ok: bool
    reasons: tuple[str, ...]

    def as_row(self) -> dict[str, Any]:
        return {"ok": self.ok, "reasons": "; ".join(self.reasons) or None}


def compare_models(new: Mapping[str, Any], previous: Mapping[str, Any] | None,
                   tolerance: float = DEFAULT_TOLERANCE) -> Promotion:
    """Compare ``new`` with ``previous`` (mappings with ``val_accuracy`` and ``val_auto_precision``,
    as in ``gold.coding_models``); no previous model always passes."""
    if not 0 <= tolerance < 1:
        raise ValueError(f"promotion tolerance must be in [0, 1), got {tolerance}")
    if previous is None:
        return Promotion(True, True, True, ())
    reasons = []
    acc_new, acc_old = new.get("val_accuracy"), previous.get("val_accuracy")
    accuracy_ok = acc_new is None or acc_old is None or acc_new >= acc_old - tolerance
    if not accuracy_ok:
        reasons.append(f"validation accuracy {acc_new:.4f} < previous {acc_old:.4f} - {tolerance}")
    prec_new, prec_old = new.get("val_auto_precision"), previous.get("val_auto_precision")
    precision_ok = prec_old is None or (prec_new is not None and prec_new >= prec_old - tolerance)
    if not precision_ok:
        reasons.append(f"auto precision {prec_new} < previous {prec_old:.4f} - {tolerance}"
                       if prec_new is not None else f"no auto-coded validation record (previous precision {prec_old:.4f})")
    return Promotion(accuracy_ok and precision_ok, accuracy_ok, precision_ok, tuple(reasons))
