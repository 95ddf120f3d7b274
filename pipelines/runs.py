"""Runs that died keep nothing: pool slots of dead runs are found and freed, a waiting step says what it
waits for, and an in-process run (``fmlake demo``) stops promptly on Ctrl-C / SIGTERM.

Why this exists. A step of a pool (``llm``, ``embedding``, ...) claims a slot in the instance's
``concurrency_slots`` table and frees it when the step ends. A process killed with SIGKILL frees nothing:
its run stays STARTED and its slot stays claimed, so every later step of that pool waits forever (Dagster's
in-process wait loop also spins and, holding the interrupt handlers, ignores Ctrl-C). Three things undo
that:

- ``dagster.yaml`` turns on run monitoring: the daemon (``make ui``) marks runs whose worker died as failed
  and frees the slots of finished runs after ``free_slots_after_run_end_seconds``; ``run_retries`` retries a
  run whose worker crashed (not one whose asset failed).
- Runs started in-process by this project (the demo) carry a ``fmlake/process`` tag (host, pid and the
  process start time, so a reused pid is not mistaken for the run). :func:`slot_holders` tells for every
  claimed or pending slot whether its run is alive; :func:`reclaim_slots` marks dead runs failed and frees
  their slots. ``fmlake demo`` does that before it starts and whenever one of its steps waits;
  ``fmlake pools`` / ``fmlake pools reclaim`` do it by hand.
- :func:`run_guarded` runs a materialization in a worker thread, so the main thread keeps the signal
  handlers: every few seconds it reports a step waiting for a pool (which pool, which run holds it and
  whether that run is alive), and on Ctrl-C or SIGTERM it marks the run canceled, frees its slots and
  raises :class:`RunInterrupted`.

A run without the tag (launched by the daemon, ``dagster dev``, the UI) is judged by the processes its
engine events name, and only on a local (SQLite) instance, where every run ran on this machine: the default
run launcher cannot tell the daemon that a run worker was killed, so run monitoring alone never frees those.
On a shared instance (Postgres, Celery workers) such a run is never declared dead here unless it has ended;
``fmlake pools reclaim --run-id`` frees one by hand.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

import dagster as dg

PROCESS_TAG = "fmlake/process"
GUARD_TAG = "fmlake/guard"


class RunInterrupted(Exception):
    """The guarded run was stopped by a signal (its run is marked canceled, its slots freed)."""

    def __init__(self, signum: int, run_id: str | None):
        self.signum = signum
        self.run_id = run_id
        super().__init__(f"interrupted by signal {signum}" + (f" (run {run_id} canceled)" if run_id else ""))


def _start_ticks(pid: int) -> str | None:
    """Start time of process ``pid`` in clock ticks since boot (Linux), or None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces or parentheses: fields after the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def process_tag_value(pid: int | None = None) -> str:
    """``host:pid:start`` of this (or ``pid``'s) process: what :func:`process_alive` checks."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or ''}"


def process_alive(value: str) -> bool | None:
    """Is the process a ``fmlake/process`` tag names still running? None when it ran on another host."""
    try:
        host, pid_s, start = value.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass   # exists, owned by someone else
    if start:
        now = _start_ticks(pid)
        if now is not None and now != start:
            return False   # the pid was reused by another process
    if _is_zombie(pid):
        return False
    return True


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().decode("ascii", "replace").rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


@dataclass(frozen=True)
class SlotHolder:
    """A run that holds (``claimed``) or waits for (``pending``) a slot of ``pool``."""

    pool: str
    run_id: str
    step_key: str
    state: str            # claimed | pending
    status: str           # the run's status (or "DELETED")
    alive: bool | None    # None: cannot tell from here (another host, no process tag)
    why: str

    def describe(self) -> str:
        life = {True: "alive", False: "dead", None: "liveness unknown"}[self.alive]
        return (f"pool {self.pool!r}: {self.state} by run {self.run_id[:8]} step {self.step_key} "
                f"({self.status}, {life}: {self.why})")


def run_liveness(instance: dg.DagsterInstance, run_id: str) -> tuple[str, bool | None, str]:
    """(status, alive, why) of ``run_id``: finished or deleted runs are dead; a run with a
    ``fmlake/process`` tag is alive while that process runs; otherwise unknown."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return "DELETED", False, "the run no longer exists in the instance"
    status = run.status.value
    if run.is_finished:
        return status, False, f"the run has ended ({status})"
    tag = run.tags.get(PROCESS_TAG)
    if tag is None:
        return (status, *_liveness_from_engine_events(instance, run_id))
    alive = process_alive(tag)
    host, pid = tag.rsplit(":", 2)[:2]
    if alive is None:
        return status, None, f"its process runs on host {host}"
    return status, alive, f"process {pid} on {host} {'is running' if alive else 'is gone'}"


def _started_at(pid: int) -> float | None:
    """Epoch seconds at which process ``pid`` started (Linux), or None."""
    ticks = _start_ticks(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    except (OSError, StopIteration, ValueError):
        return None
    return btime + int(ticks) / os.sysconf("SC_CLK_TCK")


def _is_local_instance(instance: dg.DagsterInstance) -> bool:
    """A SQLite (or in-memory) instance: every run it records ran on this machine."""
    return instance.is_ephemeral or "sqlite" in type(instance.run_storage).__name__.lower()


def _liveness_from_engine_events(instance: dg.DagsterInstance, run_id: str) -> tuple[bool | None, str]:
    """For a run not started by fmlake (the daemon's, ``dagster dev``'s): the processes its engine events name
    (``Started process for run (pid: N)``, ``Executing steps in process (pid: N)``). Trusted only on a local
    (SQLite) instance, where every run ran on this machine; elsewhere (Postgres, Celery workers) unknown."""
    if not _is_local_instance(instance):
        return None, "a run of a shared instance (its worker may be on another host): run monitoring decides"
    pids: list[tuple[int, float]] = []
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=100).records
    for record in records:
        entry = record.event_log_entry
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data is not None else None
        if pid is not None and str(getattr(pid, "value", pid)).isdigit():
            pids.append((int(getattr(pid, "value", pid)), entry.timestamp))
    if not pids:
        return None, "no process recorded for the run yet"
    for pid, at in pids:
        started = _started_at(pid)
        if started is not None and started <= at + 2 and not _is_zombie(pid):
            return True, f"its process {pid} is running"
    return False, f"its process{'es' if len(pids) > 1 else ''} {', '.join(str(p) for p, _ in pids)} " \
                  f"{'are' if len(pids) > 1 else 'is'} gone"


def slot_holders(instance: dg.DagsterInstance) -> list[SlotHolder]:
    """Every claimed and pending slot of every pool, with whether its run is alive."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    cache: dict[str, tuple[str, bool | None, str]] = {}
    out = []
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        rows = [(s.run_id, s.step_key, "claimed") for s in info.claimed_slots]
        rows += [(p.run_id, p.step_key, "pending") for p in info.pending_steps if p.assigned_timestamp is None]
        for run_id, step, state in rows:
            if run_id not in cache:
                cache[run_id] = run_liveness(instance, run_id)
            status, alive, why = cache[run_id]
            out.append(SlotHolder(pool, run_id, step, state, status, alive, why))
    return out


def free_run(instance: dg.DagsterInstance, run_id: str, reason: str) -> None:
    """Free every slot (claimed or pending) of ``run_id``; a run still marked in progress is marked failed."""
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_failed(run, message=f"fmlake: {reason}; its pool slots were freed")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def reclaim_slots(instance: dg.DagsterInstance, run_ids: list[str] | None = None) -> list[SlotHolder]:
    """Free the slots of runs that are no longer alive (or of ``run_ids``, alive or not); returns what was freed."""
    freed: list[SlotHolder] = []
    done: set[str] = set()
    for holder in slot_holders(instance):
        wanted = holder.run_id in run_ids if run_ids is not None else holder.alive is False
        if not wanted:
            continue
        if holder.run_id not in done:
            free_run(instance, holder.run_id, holder.why if run_ids is None else "freed by hand")
            done.add(holder.run_id)
        freed.append(holder)
    return freed


def _run_of(instance: dg.DagsterInstance, guard: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={GUARD_TAG: guard}), limit=1)
    return runs[0] if runs else None


def guard_tags(guard: str) -> dict[str, str]:
    """Tags a guarded run carries: this process (liveness) and the guard id (to find the run)."""
    return {PROCESS_TAG: process_tag_value(), GUARD_TAG: guard}


def report_waits(instance: dg.DagsterInstance, run_id: str, report: Callable[[str], None],
                 said: dict[str, float], every_s: float = 30.0) -> list[SlotHolder]:
    """Say which steps of ``run_id`` wait for a pool and who holds it; free slots of dead holders."""
    holders = slot_holders(instance)
    waiting = [h for h in holders if h.run_id == run_id and h.state == "pending"]
    if not waiting:
        return []
    dead = [h for h in holders if h.alive is False and h.run_id != run_id]
    for h in reclaim_slots(instance, [h.run_id for h in dead]) if dead else []:
        report(f"  freed a slot of a dead run: {h.describe()}")
    for w in waiting:
        if time.time() - said.get(w.step_key, 0) < every_s:
            continue
        said[w.step_key] = time.time()
        held = [h for h in holders if h.pool == w.pool and h.state == "claimed" and h.run_id != run_id]
        who = "; ".join(h.describe() for h in held) or "no run (the slot is being handed over)"
        report(f"  step {w.step_key} waits for a slot of pool {w.pool!r}, held by: {who}. "
               "`fmlake pools` lists holders, `fmlake pools reclaim` frees dead ones; Ctrl-C stops.")
    return waiting


def run_guarded(instance: dg.DagsterInstance, guard: str, fn: Callable[[], object],
                report: Callable[[str], None] = print, poll_s: float = 2.0):
    """Run ``fn`` (a materialization tagged with :func:`guard_tags`) in a worker thread; the calling (main)
    thread reports waits every ``poll_s`` and turns Ctrl-C / SIGTERM into a canceled run with its slots freed
    (:class:`RunInterrupted`). The worker is a daemon thread: the caller should exit soon after.

    The signal handlers only record the signal and wake the main thread; they never raise. A
    ``KeyboardInterrupt`` raised into the middle of an instance query (SQLAlchemy holding its pool lock) could
    leave that lock taken, and the cancel below, which queries the same instance, then waited forever."""
    import signal

    outcome: dict[str, object] = {}
    wake = threading.Event()

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as exc:   # handed to the caller below
            outcome["error"] = exc
        finally:
            wake.set()

    received: list[int] = []
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        def on_signal(signum, _frame):
            received.append(signum)
            wake.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    worker = threading.Thread(target=target, name=f"fmlake-run-{guard[:8]}", daemon=True)
    said: dict[str, float] = {}
    try:
        worker.start()
        while not received and worker.is_alive():
            wake.wait(poll_s)
            if received or not worker.is_alive():
                break
            run = _run_of(instance, guard)
            if run is not None:
                report_waits(instance, run.run_id, report, said)
        if received:
            signum = received[0]
            run = _run_of(instance, guard)
            if run is not None:
                instance.report_run_canceled(run, message=f"fmlake: stopped by signal {signum}")
                instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            raise RunInterrupted(signum, run.run_id if run else None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]   # type: ignore[misc]
    return outcome.get("value")


def build_dead_run_slots_sensor() -> dg.SensorDefinition:
    """A sensor the daemon (``make ui`` / ``dagster dev``) runs every minute: it frees the pool slots of runs
    that are provably dead (:func:`reclaim_slots`), which run monitoring with the default run launcher never
    does for a started run whose worker was killed. It requests no run."""

    @dg.sensor(name="dead_run_slots_sensor", minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Frees the pool slots (llm, embedding, ...) of runs whose process is gone and marks "
                           "those runs failed; `fmlake pools` shows the holders.")
    def dead_run_slots_sensor(context: dg.SensorEvaluationContext):
        freed = reclaim_slots(context.instance)
        for holder in freed:
            context.log.warning(f"freed a slot of a dead run: {holder.describe()}")
        return dg.SkipReason(f"freed {len(freed)} slot(s) of dead runs" if freed else "no slot held by a dead run")

    return dead_run_slots_sensor
