"""The coding domain's promotion policy, and the definitions module reading no YAML at import."""

import subprocess
import sys

import pytest

from assets.coding.promotion import DEFAULT_TOLERANCE, compare_models
from tests.coding.conftest import REPO_ROOT


def test_one_tolerance_for_accuracy_and_auto_precision():
    prev = {"val_accuracy": 0.80, "val_auto_precision": 0.95}
    assert compare_models({"val_accuracy": 0.79, "val_auto_precision": 0.94}, prev, 0.02).ok
    low_acc = compare_models({"val_accuracy": 0.77, "val_auto_precision": 0.96}, prev, 0.02)
    assert not low_acc.ok and not low_acc.accuracy_ok and low_acc.precision_ok
    assert "validation accuracy 0.7700" in low_acc.reasons[0]
    # the old hard-coded 0.03 for precision is gone: 0.925 is more than 0.02 below 0.95
    low_prec = compare_models({"val_accuracy": 0.80, "val_auto_precision": 0.925}, prev, 0.02)
    assert not low_prec.ok and low_prec.accuracy_ok and not low_prec.precision_ok
    assert compare_models({"val_accuracy": 0.80, "val_auto_precision": 0.925}, prev, 0.03).ok
    assert DEFAULT_TOLERANCE == 0.02


def test_missing_figures_and_first_models():
    assert compare_models({"val_accuracy": 0.1, "val_auto_precision": None}, None).ok  # nothing to compare with
    assert compare_models({"val_accuracy": None, "val_auto_precision": None},
                          {"val_accuracy": 0.9, "val_auto_precision": None}).ok
    stopped = compare_models({"val_accuracy": 0.9, "val_auto_precision": None},
                             {"val_accuracy": 0.9, "val_auto_precision": 0.95})
    assert not stopped.ok and "no auto-coded validation record" in stopped.reasons[0]
    with pytest.raises(ValueError, match="tolerance"):
        compare_models({}, {}, -0.1)


def test_definitions_module_reads_no_yaml_at_import():
    code = ("import yaml\n"
            "def refuse(*a, **k):\n    raise AssertionError('YAML read at import')\n"
            "yaml.safe_load = refuse\n"
            "import assets.coding.defs as d\n"
            "assert d.coding_feedback_job.name == 'coding_feedback_job'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
