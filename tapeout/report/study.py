"""Reproduction studies: a design's description of what to simulate and what its paper published.

A design that reproduces its paper ships ``sim/<design>/study.yaml`` (e.g.
``sim/olive/study.yaml``); :func:`study_names` finds every one, so ``tapeout report NAME`` and
the runner (:mod:`tapeout.report.reproduction`) never name a design. A study gives:

- ``workload``: batch, prompt tokens per model, decode steps;
- ``designs``: name → target and the number format of its linear layers, with why;
- ``comparisons`` (and ``sensitivity``): ``[design, baseline]`` pairs, ratios baseline ÷ design;
- ``published``: the paper's ratios with their citation and the tolerance band around them;
- ``assumptions`` (item, value, source) and ``differences`` (prose; ``{range[D/B/KEY]}`` becomes
  the per-model range of that ratio);
- ``accuracy``: the model whose perplexity is shown beside speed, the quick format set used
  when no accuracy report exists, and the published accuracy to compare with;
- optionally ``reference`` (a design every other is normalised to) and ``paper_workload`` (the
  paper's own GEMM list, run as mode ``paper`` beside the traced model, mode ``full``): such a
  study is run by :mod:`tapeout.report.normalised`.

A file that breaks the schema, or names a design, format or target that does not exist, is one
message naming the file, the key and the reason.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

import sim
from core.errors import UserError
from spec.schema import Fraction, Strict
from spec.yamlfile import load_yaml, validate

STUDY_FILE = "study.yaml"
RATIOS = ("speedup", "energy_reduction", "speedup_end_to_end", "energy_reduction_end_to_end",
          "speedup_linear", "energy_reduction_linear")
"""The ratios a study's runner computes per (design, baseline, model): baseline ÷ design, over
the matrix ops, every op (``_end_to_end``) and the linear layers alone (``_linear``)."""


class Workload(Strict):
    batch: int = Field(ge=1, le=4096)
    prefill: dict[str, Annotated[int, Field(ge=1)]] = Field(min_length=1)
    decode: int = Field(default=0, ge=0)


class PaperWorkload(Strict):
    """The paper's own simulator workload: per layer only the linear GEMMs (QKV, output, FC1,
    FC2 with a non-gated MLP of ``mlp_ratio``·d) on one batch of ``tokens`` rows
    (:func:`models.trace.gemms.linear_gemm_trace`)."""

    tokens: int = Field(ge=1, le=65536)
    mlp_ratio: int = Field(default=4, ge=1, le=64)
    why: str


class Design(Strict):
    """A design as a study names it: the target it runs on and its linear layers' format."""

    target: str
    format: str
    why: str


class PublishedRatio(Strict):
    design: str
    baseline: str
    speedup: float = Field(gt=0)
    energy_reduction: float = Field(gt=0)
    source: str = ""
    """Where this ratio is published, when more precise than the study's citation (figure,
    text, secondary source and its confidence)."""


class Published(Strict):
    citation: str
    label: str
    tolerance: Fraction
    ratios: list[PublishedRatio] = Field(default_factory=list)


class Assumption(Strict):
    item: str
    value: str
    source: str


class Accuracy(Strict):
    model: str
    quick_formats: list[str] = Field(min_length=1)
    quick_tokens: int = Field(ge=1)
    published: str


class Study(Strict):
    """One ``study.yaml`` (see the module docstring)."""

    name: str
    title: str
    plot_title: str
    workload: Workload
    designs: dict[str, Design] = Field(min_length=1)
    comparisons: list[tuple[str, str]] = Field(min_length=1)
    sensitivity: list[tuple[str, str]] = Field(default_factory=list)
    published: Published
    assumptions: list[Assumption]
    differences: list[str] = Field(default_factory=list)
    accuracy: Accuracy
    reference: str | None = None
    """A design every other is normalised to (``time_vs_<its format>``): the study reports each
    design's time and energy against it, per mode (:mod:`tapeout.report.normalised`)."""
    paper_workload: PaperWorkload | None = None
    """Mode ``paper`` of a normalised study, run beside mode ``full`` (``workload``)."""

    @model_validator(mode="after")
    def _pairs_name_designs(self) -> Study:
        if self.reference is not None and self.reference not in self.designs:
            raise ValueError(f"reference: {self.reference} is not one of designs")
        if self.paper_workload is not None and self.reference is None:
            raise ValueError("paper_workload: only a normalised study (with a reference) runs two modes")
        for key, pairs in (("comparisons", self.comparisons), ("sensitivity", self.sensitivity)):
            for pair in pairs:
                unknown = [d for d in pair if d not in self.designs]
                if unknown:
                    raise ValueError(f"{key}: {', '.join(unknown)} is not one of designs")
        for ratio in self.published.ratios:
            if (ratio.design, ratio.baseline) not in self.comparisons:
                raise ValueError(f"published ratio {ratio.design} vs {ratio.baseline} is not one of comparisons")
        for index, text in enumerate(self.differences):
            problem = self._placeholder_problem(text)
            if problem:
                raise ValueError(f"differences.{index}: {problem}")
        return self

    def _placeholder_problem(self, text: str) -> str | None:
        """Why ``text`` is not prose with ``{range[DESIGN/BASELINE/KEY]}`` placeholders only."""
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            return f"{exc} (write a literal brace as {{{{ or }}}})"
        pairs = set(self.comparisons) | set(self.sensitivity)
        for name in fields:
            if not (name.startswith("range[") and name.endswith("]") and name.count("/") == 2):
                return f"{{{name}}} is not a placeholder; use {{range[DESIGN/BASELINE/KEY]}}"
            design, baseline, key = name[len("range["):-1].split("/")
            if (design, baseline) not in pairs:
                return f"{{{name}}}: {design} vs {baseline} is not one of comparisons or sensitivity"
            if key not in RATIOS:
                return f"{{{name}}}: {key!r} is not a ratio ({', '.join(RATIOS)})"
        return None

    @property
    def needed(self) -> list[str]:
        """The designs to simulate, in the order ``designs`` lists them: those the pairs use,
        and the reference of a normalised study."""
        used = {d for pair in self.comparisons + self.sensitivity for d in pair}
        if self.reference is not None:
            used.add(self.reference)
        return [d for d in self.designs if d in used]


def study_paths() -> dict[str, Path]:
    """Every shipped study by name: ``sim/<design>/study.yaml``."""
    root = Path(sim.__file__).parent
    return {p.parent.name: p for p in sorted(root.glob(f"*/{STUDY_FILE}"))}


def study_names() -> list[str]:
    return list(study_paths())


@cache
def load_study(name: str) -> Study:
    """The study ``name``, validated; its formats, targets and models must exist."""
    paths = study_paths()
    if name not in paths:
        raise UserError(f"unknown study {name!r}; known studies: {', '.join(paths)}")
    path = paths[name]
    study = parse_study(load_yaml(path), str(path))
    if study.name != name:
        raise UserError(f"{path}: name: {study.name!r} differs from its folder {name!r}")
    return study


def parse_study(doc: object, source: str) -> Study:
    """A parsed study document, validated (``source`` names it in errors)."""
    study = validate(Study, doc, source)
    _check_names(study, source)
    return study


def _check_names(study: Study, source: str) -> None:
    """Refuse a study naming a format, target or model that does not exist (before any run)."""
    from models.zoo import get_spec
    from sim.formats import get_format
    from sim.target import load_target

    checks = [(f"designs.{n}.format", get_format, d.format) for n, d in study.designs.items()]
    checks += [(f"designs.{n}.target", load_target, d.target) for n, d in study.designs.items()]
    checks += [(f"workload.prefill.{m}", get_spec, m) for m in study.workload.prefill]
    checks += [("accuracy.model", get_spec, study.accuracy.model)]
    checks += [("accuracy.quick_formats", get_format, f) for f in study.accuracy.quick_formats]
    for key, check, value in checks:
        try:
            check(value)
        except UserError as exc:
            raise UserError(f"{source}: {key}: {exc}") from None
