"""The FlightLLM RTL units (:mod:`hw.registry`): the configurable sparse DSP chain with its
FP32 output stage (``flightllm-chain``) and without it (``flightllm-chain-psum``: the exact
integer group sums), each with its parameters, vectors (:mod:`hw.flightllm.vectors`), golden
function (:mod:`sim.formats.flightllm`), bench (:mod:`hw.flightllm.benches.chain`) and cycle
formula (:mod:`sim.flightllm.tile`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import UserError
from hw.flightllm import vectors
from hw.flightllm.chain import CsdChain
from hw.fp.format import FP32, to_bits
from hw.registry import BENCH, Bench, FitReference, FpgaFit, RtlUnit, UnitParams
from sim.flightllm.design import (
    BLOCKS_PER_GROUP,
    GROUP_SUM_BITS,
    MACS_PER_DSP,
    TOKENS,
    dense_macs_per_cycle,
    keep_choices,
    keep_problem,
    length_problem,
    needs_overflow_adjust,
)
from sim.flightllm.tile import csd_chain_run_cycles
from sim.formats.base import Encoded, Role
from sim.formats.flightllm import BIT_CHOICES, BLOCK, GROUP, KEEP_CHOICES, gemm, group_sums

FORMAT = "flightllm-w4s"


@dataclass(frozen=True)
class CsdChainParams(UnitParams):
    """A chain of ``length`` DSP48 slices (``overflow_adjust=False``: a long chain built without
    its OAU); the bench runs ``k`` input channels per run at N = ``keep`` and ``weight_bits``
    (0: every N the chain runs, both widths)."""

    length: int = 16
    overflow_adjust: bool = True
    keep: int = field(default=0, metadata=BENCH)
    weight_bits: int = field(default=0, metadata=BENCH)
    k: int = field(default=2 * GROUP, metadata=BENCH)

    @classmethod
    def from_target(cls, target) -> dict:
        """The chain length of a ``flightllm-mpe`` target's ``design:`` section (any other
        target is refused)."""
        from sim.flightllm.compute import FlightLlmMpe

        if target.compute.model != FlightLlmMpe.name:
            raise UserError(f"target {target.name} is a {target.compute.model} design; the FlightLLM "
                            f"chain is sized by a {FlightLlmMpe.name} target")
        return {"length": FlightLlmMpe.parse_design(target).chain_length}

    def problem(self) -> str | None:
        if problem := length_problem(self.length):
            return problem
        if self.keep and (problem := keep_problem(self.length, self.keep)):
            return problem
        if self.weight_bits not in (0, *BIT_CHOICES):
            return f"weight_bits must be 4, 8 or 0 (both), got {self.weight_bits}"
        if self.k < GROUP or self.k % GROUP:
            return f"k (input channels per run) must be a positive multiple of {GROUP}, got {self.k}"
        return None


@dataclass(frozen=True)
class CsdChainPsumParams(CsdChainParams):
    """As :class:`CsdChainParams`; each run is one group of 128 input channels, whose exact
    integer sums the chain outputs."""

    k: int = field(default=GROUP, metadata=BENCH)

    def problem(self) -> str | None:
        if self.k != GROUP:
            return f"the group-sum chain outputs one group per run: k must be {GROUP}, got {self.k}"
        return super().problem()


def run_operands(p: CsdChainParams, v, run: int) -> tuple[Encoded, Encoded]:
    """Run ``run`` of ``v`` as the golden model's encoded activation and weight."""
    keep = int(v["keep"][run])
    rows = p.length // keep
    blocks = p.k // BLOCK
    codes = v["w"][run, :rows * keep].reshape(rows, keep, blocks).transpose(0, 2, 1)
    index = v["index"][run, :rows * keep].reshape(rows, keep, blocks).transpose(0, 2, 1)
    x = Encoded(FORMAT, Role.ACTIVATION, (TOKENS, p.k), v["x"][run].astype(np.int8),
                v["a"][run].astype(np.float32), 0)
    w = Encoded(FORMAT, Role.WEIGHT, (rows, p.k), codes.astype(np.int8),
                v["scale"][run, :rows].astype(np.float32), 0,
                meta={"index": index.astype(np.uint8), "keep": keep, "bits": int(v["bits"][run])},
                density=keep / BLOCK)
    return x, w


def _golden(dequant: bool):
    def golden(p: CsdChainParams, v) -> np.ndarray:
        """Per run, rows × 2 tokens (rows the chain does not produce at this N: 0): FP32 bits
        of the golden GEMM, or the exact group sums of the run's only group."""
        rows_max = p.length // min(KEEP_CHOICES)
        out = np.zeros((len(v["keep"]), rows_max, TOKENS), np.int64)
        for run in range(len(out)):
            x, w = run_operands(p, v, run)
            rows = w.shape[0]
            out[run, :rows] = (to_bits(FP32, gemm(x, w)).T if dequant
                               else group_sums(x, w)[:, :, 0].T)
        return out.reshape(len(out), -1)
    return golden


def _drive(dequant: bool):
    def drive(p: CsdChainParams, v) -> dict:
        runs, blocks = len(v["keep"]), p.k // BLOCK
        x = v["x"].reshape(runs, TOKENS, blocks, BLOCK).transpose(0, 2, 3, 1)
        ports = {"x": x.reshape(runs, blocks, 2 * BLOCK), "w": v["w_port"].transpose(0, 2, 1),
                 "index": v["index"].transpose(0, 2, 1),
                 "keep": np.array([KEEP_CHOICES.index(int(n)) for n in v["keep"]]),
                 "int4": (v["bits"] == 4).astype(np.int64),
                 "result_bits": np.array(32 if dequant else GROUP_SUM_BITS)}
        if dequant:
            per_block = np.repeat(v["scale"], BLOCKS_PER_GROUP, axis=2).transpose(0, 2, 1)
            ports["scale"] = to_bits(FP32, per_block)
            ports["token_scale"] = np.repeat(to_bits(FP32, v["a"])[:, None, :], blocks, axis=1)
        return ports
    return drive


def _read(dequant: bool):
    def read(p: CsdChainParams, out) -> np.ndarray:
        if dequant:
            return out["result"]
        half = 1 << (GROUP_SUM_BITS - 1)
        return ((out["result"] + half) & ((1 << GROUP_SUM_BITS) - 1)) - half
    return read


def _top(p: CsdChainParams, dequant: bool) -> str:
    oau = "" if p.overflow_adjust or not needs_overflow_adjust(p.length) else "_no_oau"
    return f"flightllm_csd_chain_l{p.length}{'' if dequant else '_psum'}{oau}"


PAPER = "papers/flightllm.md"
U280_DSPS = 9024
"""DSP slices of the Alveo U280 (papers/flightllm.md, Platforms)."""
REFERENCE = (
    FitReference("U280 peak: 9,024 DSP48E2 × 2 packed INT8 MACs", U280_DSPS * MACS_PER_DSP,
                 f"{PAPER}: 9,024 DSP slices; two INT8 MACs per DSP48"),
    FitReference("VHK158 artifact MM parallelism 128 × 16 × 2 (another device)", 4096,
                 f"{PAPER}: the artifact profiler's Versal VHK158 matrix engine"),
    FitReference("VHK158 artifact MV parallelism 1 × 16 × 64 (another device)", 1024,
                 f"{PAPER}: the artifact profiler's Versal VHK158 vector engine"),
)


IN_FLIGHT_K = ((576, "SmolLM2-135M"), (4096, "LLaMA2-7B"))
"""Reductions at which the fit shows the one-run-in-flight rate (runs of K/16 cycles + fill)."""
FP32_MULTIPLIER_DSPS = 2
"""DSP48E2 slices Yosys maps one FP32 multiplier's 24 × 24 significand product onto (measured:
27 × 18 slices, the product split in two)."""
FIT_NOTE = ("LUT and FF per chain are upper bounds (Yosys keeps the post-adders and P registers "
            "in fabric on UltraScale+, see the note above), so the chains a LUT budget allows are "
            "a lower bound; the U280's shell region is not subtracted.")


def _fpga_fit(dequant: bool):
    def fit(p: CsdChainParams) -> FpgaFit:
        """The chain on the Alveo U280: ``length`` DSP48E2 (+ the output stage's FP32
        multipliers, one per row lane and token); per chain and cycle ``2·length`` INT8 MACs of
        kept weights, ``2·16·length/N`` dense-equivalent at each N."""
        peak = MACS_PER_DSP * p.length
        macs = {"kept-weight INT8 MACs (every N), runs streamed": peak}
        macs |= {f"dense-equivalent MACs at N = {n}, runs streamed": dense_macs_per_cycle(p.length, n)
                 for n in keep_choices(p.length)}
        for k, model in IN_FLIGHT_K:  # the RTL as built and benched: one run in flight
            padded = -(-k // GROUP) * GROUP  # whole groups: the zeros stream through too
            busy = (k // BLOCK) / csd_chain_run_cycles(p.length, padded, dequant=dequant)
            macs[f"kept-weight INT8 MACs, one run in flight, K = {k} ({model})"] = peak * busy
        multipliers = p.length if dequant else 0  # length / 2 row lanes × 2 tokens
        note = FIT_NOTE + (f" The FP32 output stage is built per chain here ({multipliers} FP32 "
                           f"multipliers and adders, {FP32_MULTIPLIER_DSPS * multipliers} of the "
                           f"DSP48E2 and most LUTs); FlightLLM dequantizes in its shared MMU, so "
                           f"flightllm-chain-psum's fit is the chain's." if dequant else "")
        return FpgaFit("alveo-u280", p.length + FP32_MULTIPLIER_DSPS * multipliers, macs,
                       REFERENCE, note)
    return fit


def _unit(name: str, summary: str, params: type[CsdChainParams], dequant: bool) -> RtlUnit:
    return RtlUnit(
        name, summary, params,
        build=lambda p: CsdChain(p.length, dequant=dequant, overflow_adjust=p.overflow_adjust),
        top=lambda p: _top(p, dequant),
        vectors=lambda p, n, seed: vectors.chain_runs(p.length, p.k, p.keep, p.weight_bits, n, seed),
        golden=_golden(dequant),
        bench=Bench("hw.flightllm.benches.chain", _drive(dequant), _read(dequant)),
        default_vectors=1600, vector_noun="run",
        cycles=lambda p: csd_chain_run_cycles(p.length, p.k, dequant=dequant),
        fpga_fit=_fpga_fit(dequant))


UNITS = (
    _unit("flightllm-chain", "configurable sparse DSP chain: N:16 sparse INT4/INT8 weights × two "
          "packed INT8 tokens per DSP48E2, FP32 group and token scales", CsdChainParams, True),
    _unit("flightllm-chain-psum", "configurable sparse DSP chain without its output stage: the "
          "exact integer group sums", CsdChainPsumParams, False),
)
