"""The configurable sparse DSP chain (CSD chain) of papers/flightllm.md: its parameters and
rules, shared by the RTL (:mod:`hw.flightllm`) and the cycle model, so both agree on what a
chain is.

A chain is ``length`` (L) DSP48E2 slices in DSP groups (DG) of 2. Each slice multiplies one kept
weight code by two INT8 activations of two tokens packed into its 27-bit A port
(``x_high·2^18 + x_low``: two MACs per multiply) and adds the product to the cascade. Under N:16
sparsity the chain is cut into ``L / N`` segments of N slices; each segment takes the N kept
weights of one block of 16 input channels of one output row, so one pass of a block yields
``L / N`` outputs' partial sums for the token pair (``segments``), and the segment's reduction
node adds them into the group sum ``P`` of the golden model (:mod:`sim.formats.flightllm`).

Lane widths. The low token's products stay exact in the low 18 bits of P only while their sum
has magnitude below 2^17 (:func:`lane_products`): 8 INT8 × INT8 products (8·127·127 = 129 032).
So a segment longer than 8 slices needs the Overflow Adjust Unit, which takes the low lane out
of the cascade at every DG boundary; chains of at most :data:`OAU_BYPASS_LENGTH` slices are built
without it — the paper's "bypassed for chains of ≤ 8 DSP48s", derived here from the widths.

A target gives the chains in ``compute`` (``rows`` chains of ``cols`` slices each, dataflow
``dot-product``) and the chain in its ``design:`` section::

    design:
      chain_length: 16        # DSP48 slices per chain (= compute.cols)
"""

from __future__ import annotations

from pydantic import Field

from sim.formats import flightllm
from sim.formats.base import signed_bits
from sim.formats.pertoken import qmax
from spec.schema import Strict, TargetSpec
from spec.yamlfile import SpecProblem

DSP_A_BITS = 27
"""DSP48E2 multiplier A operand (the pre-adder output), signed."""
DSP_B_BITS = 18
"""DSP48E2 multiplier B operand, signed."""
DSP_P_BITS = 48
"""DSP48E2 P register and cascade (PCOUT → PCIN), signed."""
LANE_SHIFT = 18
"""The high token's activation is packed this many bits up in the A port, so the low token's
partial sum occupies P's low 18 bits."""
DSP_GROUP = 2
"""Slices per DSP group (fixed cascade inside, reduction node at its end)."""
TOKENS = 2
"""Tokens packed into one slice's A port: a run is a token pair."""
MACS_PER_DSP = TOKENS
"""INT8 MACs per slice per cycle (two tokens share one weight)."""
MAX_LENGTH = 64
"""Longest chain the RTL generator builds (slices)."""
BLOCK = flightllm.BLOCK
"""Input channels per sparsity block: one segment pass."""
BLOCKS_PER_GROUP = flightllm.GROUP // flightllm.BLOCK
"""Blocks per weight-scale group (8)."""
GROUP_SUM_BITS = signed_bits(flightllm.partial_sum_bound(8))
"""Signed bits of a group sum P (22: |P| ≤ 128·127·127)."""
BLOCK_SUM_BITS = signed_bits(BLOCK * qmax(8) * qmax(flightllm.A_BITS))
"""Signed bits of one lane's sum over one block (19: 16 products)."""


def lane_products(weight_bits: int) -> int:
    """Products of ``weight_bits``-bit codes × INT8 whose sum always stays inside the low
    lane: ``|Σ| ≤ 2^(LANE_SHIFT − 1) − 1`` (INT8: 8, INT4: 147)."""
    return (2 ** (LANE_SHIFT - 1) - 1) // (qmax(weight_bits) * qmax(flightllm.A_BITS))


OAU_BYPASS_LENGTH = lane_products(max(flightllm.BIT_CHOICES))
"""Chains of at most this many slices need no Overflow Adjust Unit (8)."""


def needs_overflow_adjust(length: int) -> bool:
    """Whether a chain of ``length`` slices can hold a segment whose low lane overflows."""
    return min(length, BLOCK) > OAU_BYPASS_LENGTH


def length_problem(length: int) -> str | None:
    """Why a chain of ``length`` slices cannot be built, or ``None``: a power of two of at least
    one DSP group and at most :data:`MAX_LENGTH` (segments of N ∈ {2, 4, 8, 16} must tile it)."""
    if length < DSP_GROUP or length > MAX_LENGTH or length & (length - 1):
        return (f"chain length must be a power of two from {DSP_GROUP} to {MAX_LENGTH} DSP48 "
                f"slices, got {length}")
    return None


def keep_choices(length: int) -> tuple[int, ...]:
    """The N of N:16 a chain of ``length`` slices runs: a segment (N slices) must fit it."""
    return tuple(n for n in flightllm.KEEP_CHOICES if n <= length)


def keep_problem(length: int, keep: int) -> str | None:
    """Why a chain of ``length`` cannot run N = ``keep``, or ``None``."""
    if keep not in keep_choices(length):
        return (f"a chain of {length} DSP48 slices runs N:16 with N in "
                f"{', '.join(map(str, keep_choices(length)))}; got N = {keep}")
    return None


def segments(length: int, keep: int) -> int:
    """Outputs (rows) one block pass of the chain produces per token pair: ``length / keep``."""
    return length // keep


def dense_macs_per_cycle(length: int, keep: int) -> int:
    """Dense-equivalent MACs per cycle of one chain in steady state: 2 tokens × ``length/keep``
    rows × 16 input channels (the pruned weights count as skipped work)."""
    return MACS_PER_DSP * segments(length, keep) * BLOCK


ACCUMULATOR_BITS = 32
"""The chain's outputs are FP32 (``compute.accumulator_bits``)."""


class CsdChainDesign(Strict):
    """``design:`` of a ``flightllm-mpe`` target."""

    chain_length: int = Field(ge=DSP_GROUP, le=MAX_LENGTH)


def check(target: TargetSpec, design: CsdChainDesign) -> None:
    """Raise :class:`SpecProblem` unless ``target`` describes chains the RTL builds: a valid
    length equal to ``compute.cols``, N:16 sparsity with N the chain runs, INT4/INT8 weights ×
    INT8 activations at two MACs per slice per cycle, FP32 outputs."""
    c = target.compute
    length = design.chain_length
    if (problem := length_problem(length)):
        raise SpecProblem("design.chain_length", problem)
    if c.cols != length:
        raise SpecProblem("compute.cols", f"compute.cols is the chain length: {length} (design."
                                          f"chain_length), got {c.cols}")
    if c.accumulator_bits != ACCUMULATOR_BITS:
        raise SpecProblem("compute.accumulator_bits", f"the chain's outputs are FP32 "
                                                      f"({ACCUMULATOR_BITS} bits), got {c.accumulator_bits}")
    if length < BLOCK:
        raise SpecProblem("design.chain_length", f"a target's chains run dense layers (N = {BLOCK}: "
                                                 f"{BLOCK} slices per segment); got {length} slices")
    if c.sparsity.pattern == "n:m":
        if c.sparsity.m != BLOCK:
            raise SpecProblem("compute.sparsity.m", f"the chain's sparse MUX selects 1 of {BLOCK}, "
                                                    f"got m = {c.sparsity.m}")
        bad = [n for n in c.sparsity.n if n not in keep_choices(length)]
        if bad:
            raise SpecProblem("compute.sparsity.n", f"a chain of {length} slices runs N in "
                                                    f"{list(keep_choices(length))}, got {bad}")
        if BLOCK not in c.sparsity.n:
            raise SpecProblem("compute.sparsity.n", f"dense layers run at N = {BLOCK}; list it")
    rate = c.rows * c.cols * MACS_PER_DSP
    for name, p in c.precisions.items():
        if p.act_bits != flightllm.A_BITS or p.weight_bits not in flightllm.BIT_CHOICES:
            raise SpecProblem(f"compute.precisions.{name}",
                              f"the chain multiplies INT4 or INT8 weights by INT8 activations, got "
                              f"W{p.weight_bits}A{p.act_bits}")
        if p.macs_per_cycle != rate:
            raise SpecProblem(f"compute.precisions.{name}.macs_per_cycle",
                              f"{c.rows} chains of {c.cols} slices complete {rate} kept-weight "
                              f"MACs per cycle (two packed per slice), got {p.macs_per_cycle:g}")


def keep_for(target: TargetSpec, density: float) -> int:
    """The N a layer of weight ``density`` runs at on ``target`` (checked by :func:`check`):
    the smallest N of its ``compute.sparsity.n`` with ``N/16 ≥ density``; 16 when it has no
    N:M sparsity (16 is always listed, and a density never exceeds 1)."""
    sparsity = target.compute.sparsity
    if sparsity.pattern != "n:m":
        return BLOCK
    return min(n for n in sparsity.n if n >= density * BLOCK - 1e-9)
