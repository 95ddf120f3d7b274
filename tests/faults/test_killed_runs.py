"""Killed runs: a run SIGKILLed while it holds the ``llm`` pool must not block the next one, a step waiting
for a pool says what holds it, and SIGINT / SIGTERM stop a waiting demo run promptly (its slot freed).

Each case runs the demo's runner (``materialize_everything(..., guard=True)``, what ``fmlake demo`` uses) in
a real subprocess against its own Dagster instance made from the project's ``dagster.yaml``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.faults

SCRIPT = textwrap.dedent('''
    import os, sys, time, pathlib
    import dagster as dg
    from pipelines.demo import dagster_home, materialize_everything
    from pipelines.runs import RunInterrupted, reclaim_slots
    from resources.lakehouse import LakehouseResource

    home, root, mode, marker = sys.argv[1:5]

    @dg.asset(pool="llm")
    def llm_step() -> None:
        pathlib.Path(marker).write_text(str(os.getpid()))
        if mode.startswith("hold"):
            time.sleep(600)

    defs = dg.Definitions(assets=[llm_step])
    resources = {"lakehouse": LakehouseResource(root=root, landing_root=root + "/landing")}
    with dg.DagsterInstance.from_config(str(dagster_home(pathlib.Path(home)))) as instance:
        for h in reclaim_slots(instance):
            print("freed", h.describe(), flush=True)
        try:
            materialize_everything(defs, resources, instance, report=lambda m: print(m, flush=True),
                                   guard=mode != "hold-untagged")   # untagged: as a run of `dagster dev` is
        except RunInterrupted as exc:
            print("stopped:", exc, flush=True)
            os._exit(128 + exc.signum)
    print("done", flush=True)
''')


@pytest.fixture
def runner(tmp_path):
    script = tmp_path / "run_slot.py"
    script.write_text(SCRIPT)
    home, root = tmp_path / "home", tmp_path / "lake"
    procs: list[subprocess.Popen] = []

    def start(mode: str, name: str) -> tuple[subprocess.Popen, Path]:
        marker = tmp_path / f"{name}.started"
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DAGSTER_HOME": str(home)}
        p = subprocess.Popen([sys.executable, str(script), str(home), str(root), mode, str(marker)],
                             cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True)
        procs.append(p)
        return p, marker

    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended before its step started:\n{proc.stdout.read()}")
        if time.time() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.2)


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"still running after {timeout}s (blocked?):\n{out}") from None
    return proc.returncode, out


def test_a_run_killed_while_holding_the_llm_pool_does_not_block_the_next(runner):
    first, started = runner("hold", "first")
    _wait_for(started, first)
    os.killpg(first.pid, signal.SIGKILL)          # kill -9 while the step holds the llm slot
    first.wait()
    second, started2 = runner("fast", "second")
    code, out = _finish(second, timeout=120)
    assert code == 0, out
    assert started2.exists() and "done" in out
    assert "freed pool 'llm': claimed by run" in out and "is gone" in out, out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_waiting_run_says_what_it_waits_for_and_stops_on_a_signal(runner, signum):
    holder, started = runner("hold", "holder")
    _wait_for(started, holder)
    waiter, started2 = runner("fast", "waiter")
    deadline, out = time.time() + 90, ""
    lines: list[str] = []
    while time.time() < deadline:             # the waiting step names the pool and the run holding it
        line = waiter.stdout.readline()
        lines.append(line)
        if "waits for a slot of pool 'llm'" in line:
            break
        if waiter.poll() is not None:
            break
    out = "".join(lines)
    assert "waits for a slot of pool 'llm', held by: pool 'llm': claimed by run" in out, out
    assert "alive" in out
    assert not started2.exists()
    t0 = time.time()
    os.kill(waiter.pid, signum)
    code, rest = _finish(waiter, timeout=20)
    assert time.time() - t0 < 15, "the signal took too long to stop the run"
    assert code == 128 + signum, out + rest
    assert "stopped: interrupted by signal" in rest
    # the waiter's pending claim is gone and the holder keeps its slot: the holder is unaffected
    assert holder.poll() is None


def test_fmlake_pools_lists_and_reclaims_a_dead_runs_slot(runner, tmp_path):
    first, started = runner("hold", "first")
    _wait_for(started, first)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    fmlake = [str(Path(sys.executable).parent / "fmlake")]
    listed = subprocess.run([*fmlake, "pools"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "pool 'llm': claimed by run" in listed.stdout and "is running" in listed.stdout
    alive = subprocess.run([*fmlake, "pools", "reclaim"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                           timeout=120)
    assert "0 slot(s) freed" in alive.stdout     # a live run keeps its slot
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    freed = subprocess.run([*fmlake, "pools", "reclaim"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                           timeout=120)
    assert freed.returncode == 0, freed.stderr
    assert "1 slot(s) freed" in freed.stdout and "is gone" in freed.stdout
    again = subprocess.run([*fmlake, "pools"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "no pool slot is claimed" in again.stdout


def test_an_untagged_run_killed_holding_a_slot_is_judged_by_its_engine_events(runner, tmp_path):
    """A run fmlake did not start (no process tag, like one of ``dagster dev``) on a local instance: its slot
    is freed once the process its engine events name is gone, and not while it runs."""
    import dagster as dg

    from pipelines.demo import dagster_home
    from pipelines.runs import reclaim_slots, slot_holders

    first, started = runner("hold-untagged", "first")
    _wait_for(started, first)
    with dg.DagsterInstance.from_config(str(dagster_home(tmp_path / "home"))) as instance:
        (holder,) = slot_holders(instance)
        assert holder.alive is True and "is running" in holder.why, holder
        assert reclaim_slots(instance) == []
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        (holder,) = slot_holders(instance)
        assert holder.alive is False and "gone" in holder.why, holder
        # the daemon's sensor frees it (dagster dev): what run monitoring alone never did
        from pipelines.runs import build_dead_run_slots_sensor

        sensor = build_dead_run_slots_sensor()
        skip = sensor(dg.build_sensor_context(instance=instance))
        assert "freed 1 slot(s)" in skip.skip_message
        assert slot_holders(instance) == []
        assert instance.get_run_by_id(holder.run_id).status == dg.DagsterRunStatus.FAILURE
