"""Running a sweep: every point once, in parallel on Dask, cached per point.

- **Where.** ``workers = 0``: in this process, one point after another. Otherwise on Dask
  (``dask.distributed``): with ``scheduler`` (``tcp://host:port``) on that cluster, else on a
  ``LocalCluster`` of ``workers`` single-threaded worker processes started here and stopped at
  the end.
- **Traces** are made once per workload (model, prefill, decode, batch) in this process,
  digested (each distinct op group once, with its count: :mod:`sim.digest`) and broadcast to
  the workers (``Client.scatter``), never re-traced per point.
- **Cache.** A point's row is stored under ``<cache>/sweep/<key>.json`` as soon as it arrives,
  ``key`` = :meth:`tapeout.sweep.spec.Point.key` (target, format, workload, code version). A
  re-run, or a run resumed after Ctrl-C or a lost worker, computes only the points without a
  row; points with equal keys are computed once. Dask re-runs the tasks of a lost worker.
- **Accuracy.** One perplexity run per format of the sweep (cached under
  ``<cache>/sweep-accuracy-*``), as a task beside the points.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core.errors import UserError
from tapeout.sweep.evaluate import evaluate, failed
from tapeout.sweep.spec import Point, Sweep

CODE_PACKAGES = ("core", "spec", "models", "mapping", "sim", "hw", "tapeout")
"""Packages whose source a result depends on: their files are hashed into every point key."""


TRACE_LIBRARIES = ("torch", "transformers")
"""Libraries the traces are built with: their versions are part of every point key."""


@cache
def code_version() -> str:
    """tapeout's version, the trace libraries' versions and a hash of tapeout's source and data
    files (so an edited model or another PyTorch never reads a stale cached row)."""
    from importlib.metadata import version

    import tapeout

    root = Path(tapeout.__file__).resolve().parents[1]
    h = hashlib.sha256(tapeout.__version__.encode())
    for library in TRACE_LIBRARIES:
        h.update(f"{library}=={version(library)}".encode())
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return f"{tapeout.__version__}+{h.hexdigest()[:16]}"


def cache_dir() -> Path:
    from models.cache import cache_root

    return cache_root() / "sweep"


def cached_row(key: str) -> dict | None:
    """The stored row of ``key``, or ``None`` (missing or unreadable: recomputed)."""
    path = cache_dir() / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def store_row(key: str, row: dict) -> None:
    """Store ``row`` atomically (a reader never sees half a file)."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{key}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(row, sort_keys=True))
    os.replace(tmp, directory / f"{key}.json")


def accuracy_run(model: str, fmt: str, tokens: int) -> float:
    """Perplexity of ``model`` under ``fmt`` over ``tokens`` tokens, cached."""
    from models.cache import cached_dir
    from tapeout.accuracy import evaluate as perplexity

    def build(tmp: Path) -> None:
        (tmp / "result.json").write_text(json.dumps(perplexity(model, fmt, tokens=tokens)))

    directory = cached_dir(f"sweep-accuracy-{model}-{fmt}-{tokens}",
                           {"model": model, "format": fmt, "tokens": tokens,
                            "version": code_version()}, build)
    return float(json.loads((directory / "result.json").read_text())["perplexity"])


@dataclass
class Outcome:
    """Rows in point order, how many arrived from a computation in this run (the rest came from
    the cache), and the perplexity per format (a format whose run failed has none)."""

    rows: list[dict[str, Any]]
    computed: int
    perplexity: dict[str, float]


def run_sweep(sweep: Sweep, *, workers: int = 2, scheduler: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> Outcome:
    """Every point of ``sweep`` evaluated (see the module docstring); ``progress(done, total)``."""
    version = code_version()
    keys = [p.key(version) for p in sweep.points]
    rows: dict[str, dict] = {}
    for key in keys:
        row = cached_row(key)
        if row is not None:
            rows[key] = row
    todo = {k: p for k, p in zip(keys, sweep.points, strict=True) if k not in rows}
    formats = sorted({p.format for p in sweep.points if p.format}) if sweep.accuracy else []
    total, done, computed = len(set(keys)), len(rows), 0
    if progress:
        progress(done, total)

    def arrived(key: str, row: dict) -> None:
        nonlocal done, computed
        if key in rows:                     # a duplicate delivery: the point is already counted
            return
        if row["status"] != "error":        # a failure is retried by the next run, not cached
            store_row(key, row)
        rows[key] = row
        done += 1
        computed += 1
        if progress:
            progress(done, total)

    traces = _traces(todo, arrived)
    todo = {k: p for k, p in todo.items() if k not in rows}
    if workers == 0 and scheduler is None:
        perplexity = {}
        for f in formats:
            try:
                perplexity[f] = accuracy_run(sweep.accuracy.model, f, sweep.accuracy.tokens)
            except UserError:
                pass
        for key, point in todo.items():
            arrived(key, evaluate(point.target, point.format, traces[point.workload]))
    else:
        perplexity = _run_dask(sweep, todo, traces, formats, workers, scheduler, arrived)
    return Outcome([rows[k] for k in keys], computed, perplexity)


def _trace(point: Point):
    from models.trace.tracer import trace_model

    return trace_model(point.model, point.prefill, point.decode, batch=point.batch)[0]


def _traces(todo: dict[str, Point], arrived: Callable[[str, dict], None]) -> dict[tuple, Any]:
    """One trace per workload of ``todo``; a workload the model cannot take (lengths beyond its
    positions, decode on an encoder) makes its points ``infeasible`` rows instead."""
    traces: dict[tuple, Any] = {}
    problems: dict[tuple, str] = {}
    for key, point in todo.items():
        w = point.workload
        if w not in traces and w not in problems:
            try:
                traces[w] = _trace(point)
            except UserError as exc:
                problems[w] = (f"workload {point.model} prefill {point.prefill} decode {point.decode} "
                               f"batch {point.batch}: {exc}")
        if w in problems:
            arrived(key, failed("infeasible", problems[w]))
    return traces


def _digested(todo: dict[str, Point], traces: dict[tuple, Any]) -> dict[tuple, Any]:
    """Each trace digested (:class:`sim.digest.DigestedTrace`) for the fusion sets of its
    points: what the workers receive instead of the whole trace (an invalid point adds
    nothing; its worker finds out why)."""
    from sim.digest import digested
    from sim.target import parse_target

    targets: dict[tuple, dict] = {w: {} for w in traces}
    for point in todo.values():
        if point.workload not in traces:
            continue
        try:
            target = parse_target(point.target, "point")
        except UserError:
            continue
        targets[point.workload].setdefault(frozenset(target.compute.fusion), target)
    return {w: digested(trace, targets[w].values()) for w, trace in traces.items()}


def _run_dask(sweep: Sweep, todo: dict[str, Point], traces: dict[tuple, Any], formats: list[str],
              workers: int, scheduler: str | None,
              arrived: Callable[[str, dict], None]) -> dict[str, float]:
    import logging

    from dask.distributed import Client, LocalCluster, as_completed, wait

    logging.getLogger("distributed").setLevel(logging.WARNING)   # the progress bar says enough
    if workers < 1 and scheduler is None:
        raise UserError(f"--workers must be ≥ 0, got {workers}")
    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40)
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        if cluster is not None:
            cluster.close()
        raise UserError(f"cannot reach the Dask scheduler {scheduler or '(local)'}: {exc}") from None
    try:
        version = code_version()
        accuracy = {client.submit(accuracy_run, sweep.accuracy.model, f, sweep.accuracy.tokens,
                                  key=f"accuracy-{sweep.accuracy.model}-{f}-{sweep.accuracy.tokens}-{version}",
                                  pure=False): f for f in formats}
        shared = {w: client.scatter(t, broadcast=True, hash=False)
                  for w, t in _digested(todo, traces).items()}
        futures = {client.submit(evaluate, point.target, point.format, shared[point.workload],
                                 key=f"point-{key}", pure=False): key for key, point in todo.items()}
        for future in as_completed(futures):
            if future.status == "error":    # e.g. KilledWorker: the point's workers kept dying
                exc = future.exception()
                arrived(futures[future], failed("error", f"{type(exc).__name__}: {exc}"))
            else:
                arrived(futures[future], future.result())
        wait(list(accuracy))
        return {f: future.result() for future, f in accuracy.items() if future.status != "error"}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
