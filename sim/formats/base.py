"""What every number format offers (DESIGN.md contract 2) and the helpers they share.

A format module defines, in one place, its grid, its encoder, its decoder and the integer GEMM
the hardware computes. Tensors are 2-D ``[rows, K]`` float arrays with the reduction dimension K
last: weights ``[N, K]`` (out × in), activations ``[tokens, K]``. Every format provides::

    encode(x, role, *, name="tensor", scale=None) -> Encoded   # role: "weight" | "activation"
    decode(enc) -> np.ndarray                                   # float32, shape enc.shape
    gemm(x_enc, w_enc) -> np.ndarray                            # [M, N] float, bit-exact model
    for_linear(name, out_features, in_features)                 # fake-quant seam (models.fakequant)
    calibration_tokens: int                                     # > 0: static activation scales
    storage(role, name) -> TensorStorage                        # per-op numerics seam (sim.numerics)

``storage`` tells the simulator what one tensor of module ``name`` costs the hardware: the width
of the codes the MAC consumes, the storage bits per logical element (codes + scales + metadata)
and the kept fraction of elements (N:M sparsity). A format with per-layer rules (FlightLLM's
sparsity and INT4/INT8 choice per module) answers per layer; :class:`NumberFormat` measures it
on a fixed, seeded sample once per role and :meth:`~NumberFormat.layer_rule`.

Quantized formats subclass :class:`NumberFormat`, which provides ``for_linear`` through the
generic :class:`FakeQuantLinear` (weights fake-quantized once, activations every forward with a
static per-tensor scale from :meth:`NumberFormat.calibrate`, LM head kept in floating point).

``scale`` fixes the per-tensor scale (one step of the normal grid) and skips calibration;
:func:`check_scale` is its valid range.
K that is not a multiple of the format's pair/group/block size is padded with zeros
(:func:`pad_k`); ``Encoded.padded`` counts the padding so statistics can report it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import StrEnum

import numba
import numpy as np
import torch

from core.errors import UserError


class Role(StrEnum):
    WEIGHT = "weight"
    ACTIVATION = "activation"


@dataclass
class Encoded:
    """A tensor in a number format.

    ``codes``: the integers stored in memory (layout documented by the format);
    ``scales``: float32 scales (per tensor, row or group, as the format says);
    ``meta``: format-specific metadata (zero points, sparse indices, outlier lists, normal type…);
    ``shape``: the logical shape ``[rows, K]`` before padding; ``padded``: zeros appended to K;
    ``bits``: total storage in bits (codes + scales + metadata) — see :meth:`bits_per_element`;
    ``density``: the kept fraction of the logical elements, the only ones the hardware
    multiplies (N:M sparsity; 1 for a dense tensor).
    """

    format: str
    role: Role
    shape: tuple[int, int]
    codes: np.ndarray
    scales: np.ndarray
    bits: int
    padded: int = 0
    meta: dict = field(default_factory=dict)
    density: float = 1.0

    def bits_per_element(self) -> float:
        """Real storage cost per logical element: codes, scales and metadata included."""
        return self.bits / max(1, self.shape[0] * self.shape[1])


@dataclass(frozen=True, slots=True)
class TensorStorage:
    """What one weight or activation tensor costs the hardware, per logical element:
    ``code_bits``, the width of a code the MAC consumes (its operand width); ``bits``, storage
    (codes + scales + metadata, may be fractional, below ``code_bits`` when sparse);
    ``density``, the kept fraction (N:M sparsity); ``outliers``, the fraction of elements kept
    on a separate sparse outlier path (OLAccel's, GOBO's lists; ``meta["outlier_fraction"]`` of
    the encoded sample), 0 for formats without one."""

    code_bits: int
    bits: float
    density: float = 1.0
    outliers: float = 0.0


STORAGE_SAMPLE = {Role.WEIGHT: (64, 512), Role.ACTIVATION: (16, 512)}
"""Shape of the seeded standard-normal sample :meth:`NumberFormat.storage` encodes per role:
per-row and per-group costs (scales, zero points) are those of K = 512; data-dependent
metadata (outlier lists) those of a Gaussian tensor."""


def check_finite(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as a 2-D float32 array; NaN/inf, a wrong rank or no elements is a :class:`UserError`
    naming it."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise UserError(f"{name}: expected a 2-D [rows, K] tensor, got shape {x.shape}")
    if x.size == 0:
        raise UserError(f"{name} is empty (shape {x.shape}); a tensor needs at least one row and "
                        "one column")
    if not np.isfinite(x).all():
        bad = int(np.size(x) - np.isfinite(x).sum())
        raise UserError(f"{name} contains {bad} NaN or infinite value(s); clean the tensor first")
    return x


SCALE_MIN = float(np.finfo(np.float32).tiny)
SCALE_MAX = float(np.finfo(np.float32).max) / 2**24
"""A fixed scale is a normal float32 step small enough that every format's largest code (at most
2^24 steps; OVP-8's top outlier is 15·2^19) decodes to a finite float32."""


def check_scale(scale: float, name: str) -> None:
    """Raise a :class:`UserError` naming ``name`` and the valid range unless ``scale`` is in
    [:data:`SCALE_MIN`, :data:`SCALE_MAX`]."""
    if not SCALE_MIN <= scale <= SCALE_MAX:
        raise UserError(f"{name}: --scale must be between {SCALE_MIN:.4g} and {SCALE_MAX:.4g} "
                        f"(a normal float32 step), got {scale:g}")


def signed_bits(bound: int) -> int:
    """Two's-complement bits holding every integer of magnitude ≤ ``bound``."""
    return bound.bit_length() + 1


def pad_k(x: np.ndarray, multiple: int) -> tuple[np.ndarray, int]:
    """Append zero columns so K is a multiple of ``multiple``; returns (array, zeros added per row)."""
    k = x.shape[1]
    pad = (-k) % multiple
    if pad:
        x = np.concatenate([x, np.zeros((x.shape[0], pad), dtype=x.dtype)], axis=1)
    return x, pad


def apply_scales(acc: np.ndarray, sx: np.ndarray, sw: np.ndarray) -> np.ndarray:
    """The step after every integer GEMM: ``float32(float64(acc) · float64(sx[m]) · float64(sw[n]))``
    with float32 scales ``[1]`` (per tensor) or ``[rows]`` (per token / output channel)."""
    sx = np.asarray(sx, np.float32).astype(np.float64).reshape(-1, 1)
    sw = np.asarray(sw, np.float32).astype(np.float64).reshape(1, -1)
    return (acc.astype(np.float64) * sx * sw).astype(np.float32)


def check_accumulator(bound: int, bits: int, what: str) -> None:
    """Raise unless every partial sum (``|·| ≤ bound``) fits a ``bits``-bit two's complement
    accumulator: the proof that an integer GEMM is exact for the given shape."""
    if bound >= 1 << (bits - 1):
        raise UserError(f"{what}: partial sums up to {bound} overflow the int{bits} accumulator; "
                        "split the reduction (smaller K)")


# --- fake quantization: how any format plugs into models.fakequant -------------------------------

LM_HEAD = "lm_head"
"""Name (suffix) of the output projection; quantized formats keep it in floating point
(papers/olive.md, "Scale selection": every linear layer except the LM head)."""


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A float32 numpy copy of a torch tensor (the one torch → numpy crossing of the seam)."""
    return t.detach().to("cpu", torch.float32).numpy()


def to_torch(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """``a`` as a tensor with the dtype and device of ``like`` (the one numpy → torch crossing)."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(like.device, like.dtype)


class CalibrationSample:
    """What calibration saw of one activation tensor.

    Moments (count, mean, σ, max |x|) cover *every* observed value; ``rows`` keeps up to
    ``capacity`` values as whole rows ``[r, K]`` (so pairs/groups along K stay intact), thinned
    evenly when more arrive. Formats search their static scale on ``rows``.
    """

    def __init__(self, capacity: int = 1 << 16):
        self.capacity = capacity
        self.count = 0
        self._sum = 0.0
        self._sumsq = 0.0
        self.absmax = 0.0
        self._rows: list[np.ndarray] = []
        self._stride = 1  # keep every ``_stride``-th incoming row

    def add(self, x: np.ndarray) -> None:
        x = x.reshape(-1, x.shape[-1])
        x64 = x.astype(np.float64)
        self.count += x.size
        self._sum += float(x64.sum())
        self._sumsq += float((x64 * x64).sum())
        self.absmax = max(self.absmax, float(np.abs(x).max(initial=0.0)))
        self._rows.append(x[:: self._stride].copy())
        while sum(r.size for r in self._rows) > self.capacity and self._rows[0].shape[0] > 0:
            self._rows = [r[::2] for r in self._rows]
            self._stride *= 2

    @property
    def mean(self) -> float:
        return self._sum / max(1, self.count)

    @property
    def std(self) -> float:
        return float(np.sqrt(max(0.0, self._sumsq / max(1, self.count) - self.mean**2)))

    @property
    def rows(self) -> np.ndarray:
        kept = [r for r in self._rows if r.shape[0]]
        return np.concatenate(kept) if kept else np.zeros((0, 0), np.float32)


class NumberFormat:
    """Base of the quantized formats: the contract above plus the generic fake-quant seam.

    Subclasses implement ``encode``/``decode``/``gemm`` and, when ``calibration_tokens > 0``
    (static activation scales), ``calibrate``. ``tapeout.accuracy`` runs that many calibration
    tokens through the model before measuring. ``bits`` is the code width of weights and
    activations; a format whose two roles differ overrides :meth:`code_bits`.
    """

    name: str = ""
    description: str = ""
    calibration_tokens: int = 0
    bits: int

    def layer_rule(self, name: str) -> Hashable:
        """The per-layer rule this format applies to module ``name``: modules under one rule
        cost the same per element. ``None``: one rule for every layer."""
        return None

    def code_bits(self, role: Role, name: str) -> int:
        """Width of one code of a ``role`` tensor of module ``name`` as the MAC consumes it."""
        return self.bits

    def storage(self, role: Role, name: str) -> TensorStorage:
        """What a ``role`` tensor of module ``name`` costs (see :class:`TensorStorage`): bits
        and density measured by encoding the :data:`STORAGE_SAMPLE` under ``name``, once per
        role and :meth:`layer_rule`."""
        role = Role(role)
        cache = self.__dict__.setdefault("_storage", {})
        key = (role, self.layer_rule(name))
        if key not in cache:
            x = np.random.default_rng(0).standard_normal(STORAGE_SAMPLE[role]).astype(np.float32)
            tensor = f"{name}.weight" if role is Role.WEIGHT else f"{name}.input"
            enc = self.encode(x, role, name=tensor)
            cache[key] = TensorStorage(self.code_bits(role, name), enc.bits_per_element(),
                                       enc.density, float(enc.meta.get("outlier_fraction", 0.0)))
        return cache[key]

    def encode(self, x: np.ndarray, role: Role, *, name: str = "tensor",
               scale: float | None = None, **static) -> Encoded:
        raise NotImplementedError

    def decode(self, enc: Encoded) -> np.ndarray:
        raise NotImplementedError

    def gemm(self, x: Encoded, w: Encoded) -> np.ndarray:
        raise NotImplementedError

    def calibrate(self, sample: CalibrationSample, *, name: str) -> dict:
        """Static activation parameters (keyword arguments of ``encode``) from a sample."""
        raise NotImplementedError(f"{self.name} has no static activation calibration")

    def for_linear(self, name: str, out_features: int, in_features: int) -> FakeQuantLinear | None:
        if name == LM_HEAD or name.endswith("." + LM_HEAD):
            return None
        return FakeQuantLinear(self, name)


class FakeQuantLinear:
    """:class:`models.fakequant.LinearQuantizer` over any :class:`NumberFormat`.

    Weight: ``decode(encode(W, WEIGHT))`` once. Input: ``decode(encode(x, ACTIVATION, **static))``
    every forward, where ``static`` comes from :meth:`NumberFormat.calibrate` on what
    :meth:`observe` collected (formats with ``calibration_tokens == 0`` quantize dynamically).
    The calibration pass itself runs the float model (inputs observed, not quantized); a static
    format used without a calibration pass calibrates on its first input (documented fallback,
    so the seam never fails). Outlier detection (OVP) runs on every forward.
    """

    def __init__(self, fmt: NumberFormat, name: str):
        self.fmt = fmt
        self.name = name
        self.sample = CalibrationSample() if fmt.calibration_tokens > 0 else None
        self.static: dict | None = None

    def quantize_weight(self, weight: torch.Tensor) -> torch.Tensor:
        w = to_numpy(weight)
        enc = self.fmt.encode(w, Role.WEIGHT, name=f"{self.name}.weight")
        return to_torch(self.fmt.decode(enc), weight)

    def observe(self, x: torch.Tensor) -> None:
        if self.sample is not None:
            self.sample.add(to_numpy(x))
            self.static = None  # recalibrate on the next quantized forward

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        a = to_numpy(x).reshape(-1, x.shape[-1])
        name = f"{self.name}.input"
        if self.sample is not None and self.static is None:
            if self.sample.count == 0:
                self.sample.add(a)
            self.static = self.fmt.calibrate(self.sample, name=name)
        threads = numba.get_num_threads()
        numba.set_num_threads(1)  # small tensors: don't contend with torch's OpenMP threads
        try:
            enc = self.fmt.encode(a, Role.ACTIVATION, name=name, **(self.static or {}))
            decoded = self.fmt.decode(enc)
        finally:
            numba.set_num_threads(threads)
        return to_torch(decoded.reshape(x.shape), x)
