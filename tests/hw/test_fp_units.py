"""The floating-point units (fast): the golden model against independent facts (known bit
patterns, exact rational arithmetic, numpy's float16), the vectors' coverage, the registry
entries, lint, and the RTL on the Amaranth simulator (a spot check; Verilator runs every
vector in test_fp_benches.py)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from amaranth.sim import Simulator

from core.errors import UserError
from hw.fp import format as golden
from hw.fp import vectors
from hw.fp.convert import FloatWiden, IntToFloat
from hw.fp.format import FP16, FP32, FloatFormat
from hw.registry import elaborate, get_unit, resolve_params
from hw.verilator import lint

FORMATS = {"fp32": FP32, "fp16": FP16}

# --- an exact reference: rationals, rounded to nearest even by integer arithmetic ----------------


def value_of(fmt: FloatFormat, bits: int) -> Fraction:
    """The exact value of a finite pattern."""
    exp, frac = (bits >> fmt.man_bits) & fmt.exp_all_ones, bits & ((1 << fmt.man_bits) - 1)
    sig, scale = (frac, 1 - fmt.bias) if exp == 0 else (frac | (1 << fmt.man_bits), exp - fmt.bias)
    v = Fraction(sig) * Fraction(2) ** (scale - fmt.man_bits)
    return -v if bits & fmt.sign_bit else v


def is_finite(fmt: FloatFormat, bits: int) -> bool:
    return (bits >> fmt.man_bits) & fmt.exp_all_ones != fmt.exp_all_ones


def round_exact(fmt: FloatFormat, x: Fraction, zero_sign: int = 0) -> tuple[int, str]:
    """``x`` rounded to nearest even as a pattern, with how: ``exact``, ``tie`` (halfway) or
    ``inexact``; an exact zero takes ``zero_sign``."""
    sign = fmt.sign_bit if x < 0 or (x == 0 and zero_sign) else 0
    x = abs(x)
    if x == 0:
        return sign, "exact"
    e = x.numerator.bit_length() - x.denominator.bit_length()
    if Fraction(2) ** e > x:
        e -= 1  # now 2^e ≤ x < 2^(e+1)
    quantum = max(e, 1 - fmt.bias) - fmt.man_bits
    scaled = x / Fraction(2) ** quantum
    n, rest = divmod(scaled.numerator, scaled.denominator)
    half = Fraction(rest, scaled.denominator)
    how = "exact" if half == 0 else "tie" if half == Fraction(1, 2) else "inexact"
    if half > Fraction(1, 2) or (half == Fraction(1, 2) and n % 2):
        n += 1
    if n < 1 << fmt.man_bits:  # subnormal (or zero)
        return sign | n, how
    bits = ((quantum + fmt.man_bits + fmt.bias) << fmt.man_bits) + n - (1 << fmt.man_bits)
    return sign | min(bits, fmt.inf), how  # a carry into the exponent is exactly right


def reference(fmt: FloatFormat, op: str, a: int, b: int) -> tuple[int, str]:
    """IEEE 754 ``a + b`` or ``a × b`` of finite patterns, exactly rounded."""
    x, y = value_of(fmt, a), value_of(fmt, b)
    sa, sb = bool(a & fmt.sign_bit), bool(b & fmt.sign_bit)
    if op == "add":
        return round_exact(fmt, x + y, zero_sign=sa and sb)
    return round_exact(fmt, x * y, zero_sign=sa != sb)


def _finite_pairs(fmt, v):
    return [(int(a), int(b)) for a, b in zip(v["a"], v["b"], strict=True)
            if is_finite(fmt, int(a)) and is_finite(fmt, int(b))]


# --- the golden model ---------------------------------------------------------------------------


def test_format_constants():
    assert (FP32.width, FP32.bias, FP32.precision, FP16.width, FP16.bias) == (32, 127, 24, 16, 15)
    assert (FP32.canonical_nan, FP16.canonical_nan) == (0x7FC0_0000, 0x7E00)
    assert (FP32.inf, FP16.inf, FP16.max_finite) == (0x7F80_0000, 0x7C00, 0x7BFF)
    assert golden.to_floats(FP16, [FP16.max_finite])[0] == 65504
    assert golden.to_floats(FP32, [1])[0] == np.float32(2.0 ** -149)
    assert (FP32.name, FP16.name, FloatFormat(8, 7).name) == ("fp32", "fp16", "e8m7")


KNOWN = [  # (format, op, a, b, a op b) — worked out by hand
    (FP32, "add", 0x3F80_0000, 0x3F80_0000, 0x4000_0000),       # 1 + 1 = 2
    (FP32, "add", 0x3F80_0000, 0x3380_0000, 0x3F80_0000),       # 1 + 2^-24: tie, stays even
    (FP32, "add", 0x3F80_0001, 0x3380_0000, 0x3F80_0002),       # odd + half an ulp: up
    (FP32, "add", 0x3F80_0000, 0x3380_0001, 0x3F80_0001),       # just above half: up
    (FP32, "add", 0x3FFF_FFFF, 0x3400_0000, 0x4000_0000),       # carry through the significand
    (FP32, "add", 0x0000_0001, 0x0000_0001, 0x0000_0002),       # subnormals add exactly
    (FP32, "add", 0x007F_FFFF, 0x0000_0001, 0x0080_0000),       # … into the smallest normal
    (FP32, "add", 0x0080_0000, 0x8000_0001, 0x007F_FFFF),       # … and back
    (FP32, "add", 0x7F7F_FFFF, 0x7F7F_FFFF, 0x7F80_0000),       # overflow
    (FP32, "add", 0x7F7F_FFFF, 0x7300_0000, 0x7F80_0000),       # max + half an ulp: tie, odd → inf
    (FP32, "add", 0x7F7F_FFFF, 0x72FF_FFFF, 0x7F7F_FFFF),       # just below half: max
    (FP32, "add", 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000),       # inf − inf = NaN
    (FP32, "add", 0xFF80_0000, 0x3F80_0000, 0xFF80_0000),
    (FP32, "add", 0x7F80_0001, 0x0000_0000, 0x7FC0_0000),       # signalling NaN → canonical
    (FP32, "add", 0xFFC0_0000, 0x3F80_0000, 0x7FC0_0000),       # negative NaN → canonical
    (FP32, "add", 0x3F80_0000, 0xBF80_0000, 0x0000_0000),       # x + (−x) = +0
    (FP32, "add", 0x8000_0000, 0x8000_0000, 0x8000_0000),       # (−0) + (−0) = −0
    (FP32, "add", 0x0000_0000, 0x8000_0000, 0x0000_0000),
    (FP32, "add", 0x3F80_0000, 0xBF7F_FFFF, 0x3380_0000),       # 1 − (1 − 2^-24): cancellation
    (FP32, "add", 0x3F80_0000, 0xB300_0000, 0x3F80_0000),       # 1 − 2^-25: tie, even (up to 1)
    (FP32, "add", 0x3F80_0000, 0xB300_0001, 0x3F7F_FFFF),       # 1 − (2^-25 + ε): below 1
    (FP16, "add", 0x7BFF, 0x4C00, 0x7C00),                      # 65504 + 16: tie → inf
    (FP16, "add", 0x7BFF, 0x4BFF, 0x7BFF),                      # 65504 + 15.99: 65504
    (FP16, "add", 0x3C00, 0x1000, 0x3C00),                      # 1 + 2^-11: tie, even
    (FP16, "add", 0x3C01, 0x1000, 0x3C02),
    (FP16, "add", 0x03FF, 0x0001, 0x0400),
    (FP16, "add", 0x7C00, 0xFC00, 0x7E00),
    (FP32, "mul", 0x3FC0_0000, 0x3FC0_0000, 0x4010_0000),       # 1.5 × 1.5 = 2.25
    (FP32, "mul", 0x7F7F_FFFF, 0x4000_0000, 0x7F80_0000),       # overflow
    (FP32, "mul", 0x0000_0001, 0x3F00_0000, 0x0000_0000),       # half the smallest: tie → 0
    (FP32, "mul", 0x0000_0003, 0x3F00_0000, 0x0000_0002),       # 1.5 ulp: tie → 2
    (FP32, "mul", 0x0000_0001, 0x3F00_0001, 0x0000_0001),       # just above half
    (FP32, "mul", 0x0080_0000, 0x3F7F_FFFF, 0x0080_0000),       # tie at the normal boundary
    (FP32, "mul", 0x7F80_0000, 0x0000_0000, 0x7FC0_0000),       # inf × 0 = NaN
    (FP32, "mul", 0xFF80_0000, 0xC000_0000, 0x7F80_0000),
    (FP32, "mul", 0x8000_0000, 0x40A0_0000, 0x8000_0000),       # −0 × 5 = −0
    (FP32, "mul", 0x0DA2_4260, 0x8DA2_4260, 0x8000_0000),       # 1e-30 × −1e-30 underflows to −0
    (FP16, "mul", 0x7BFF, 0x3C01, 0x7C00),
    (FP16, "mul", 0x0001, 0x3800, 0x0000),
    (FP16, "mul", 0x0003, 0x3800, 0x0002),
]


@pytest.mark.parametrize(("fmt", "op", "a", "b", "want"), KNOWN,
                         ids=[f"{f.name}-{op}-{a:x}-{b:x}" for f, op, a, b, _ in KNOWN])
def test_golden_known_patterns(fmt, op, a, b, want):
    fn = golden.add if op == "add" else golden.mul
    assert int(fn(fmt, [a], [b])[0]) == want
    assert int(fn(fmt, [b], [a])[0]) == want  # commutative, NaN patterns included


def test_golden_conversions_known_patterns():
    def hexes(x):
        return [hex(int(v)) for v in x]

    assert hexes(golden.from_int(FP32, 32, [2**24 + 1, 2**24 + 3, -2**31, 2**31 - 1, 0, -1])) == [
        "0x4b800000", "0x4b800002", "0xcf000000", "0x4f000000", "0x0", "0xbf800000"]
    assert hexes(golden.from_int(FP16, 32, [65519, 65520, 2049, 2051, -65504])) == [
        "0x7bff", "0x7c00", "0x6800", "0x6802", "0xfbff"]
    assert golden.from_int(FP16, 8, [0xFF, 0x80]).tolist() == [0xBC00, 0xD800]  # patterns: −1, −128
    assert hexes(golden.widen(FP16, FP32, [0x0001, 0x03FF, 0x7BFF, 0xFC00, 0x7E01, 0x8000])) == [
        "0x33800000", "0x387fc000", "0x477fe000", "0xff800000", "0x7fc00000", "0x80000000"]


@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("name", ["fp32", "fp16"])
def test_golden_is_exactly_rounded(name, op):
    """The golden model against rationals rounded by integer arithmetic, on every adversarial
    vector with finite operands and 2,000 random ones; and the vectors reach the cases that
    matter (ties, subnormal results, overflow, both exact zeros)."""
    fmt = FORMATS[name]
    make = vectors.add_vectors if op == "add" else vectors.mul_vectors
    v = make(fmt, 1, seed=3)
    extra = make(fmt, len(v["a"]) + 2000, seed=4)
    pairs = _finite_pairs(fmt, v) + _finite_pairs(fmt, {k: x[-2000:] for k, x in extra.items()})
    a, b = (np.array(x) for x in zip(*pairs, strict=True))
    got = (golden.add if op == "add" else golden.mul)(fmt, a, b)
    want = [reference(fmt, op, x, y) for x, y in pairs]
    assert [int(g) for g in got] == [w for w, _ in want]
    kinds = [how for _, how in want]
    results = np.array([w for w, _ in want])
    magnitude = results & (fmt.sign_bit - 1)
    assert kinds.count("tie") >= 100 and kinds.count("inexact") >= 1000
    assert ((magnitude > 0) & (magnitude < fmt.min_normal)).sum() >= 100      # subnormal results
    assert (magnitude == fmt.inf).sum() >= 20                                  # overflow
    assert {0, fmt.sign_bit} <= set(results[magnitude == 0].tolist())          # ±0


@pytest.mark.parametrize(("name", "int_bits"), [("fp32", 32), ("fp16", 32), ("fp16", 8), ("fp32", 53)])
def test_golden_from_int_is_exactly_rounded(name, int_bits):
    fmt = FORMATS[name]
    values = vectors.from_int_vectors(fmt, int_bits, 3000, seed=1)["value"]
    want = [round_exact(fmt, Fraction(int(v)))[0] for v in values]
    assert golden.from_int(fmt, int_bits, values).tolist() == want


def test_golden_widen_is_exact_for_every_fp16_pattern():
    bits = np.arange(1 << 16)
    wide = golden.widen(FP16, FP32, bits)
    finite = [b for b in bits.tolist() if is_finite(FP16, b)]
    assert [value_of(FP32, int(wide[b])) for b in finite] == [value_of(FP16, b) for b in finite]
    nan = (bits & 0x7C00 == 0x7C00) & (bits & 0x3FF != 0)
    assert set(wide[nan].tolist()) == {FP32.canonical_nan}
    assert golden.to_floats(FP32, wide[~nan]).astype(np.float16).view(np.uint16).tolist() == bits[~nan].tolist()


def test_fp16_golden_agrees_with_numpy_float16_and_float32_intermediates():
    """numpy's own float16 arithmetic computes in float32 and rounds again (its C loops). On the vectors
    where float32 holds the exact result that is one rounding, so it must equal the golden
    model; and everywhere else too, as the innocuous-double-rounding bound says for FP16 sums
    and products (format.py's docstring)."""
    for op, make in ((np.add, vectors.add_vectors), (np.multiply, vectors.mul_vectors)):
        v = make(FP16, 200_000, seed=6)
        x, y = golden.to_floats(FP16, v["a"]), golden.to_floats(FP16, v["b"])
        with np.errstate(all="ignore"):
            numpy16 = golden.to_bits(FP16, op(x, y))
            via32 = golden.to_bits(FP16, op(x.astype(np.float32), y.astype(np.float32)).astype(np.float16))
            exact32 = op(x.astype(np.float32), y.astype(np.float32)).astype(np.float64) == op(
                x.astype(np.float64), y.astype(np.float64))
        want = (golden.add if op is np.add else golden.mul)(FP16, v["a"], v["b"])
        assert exact32.sum() > 10_000
        assert (numpy16[exact32] == want[exact32]).all()
        assert (via32 == want).all() and (numpy16 == want).all()


def test_golden_properties():
    rng = np.random.default_rng(7)
    for fmt in (FP32, FP16):
        a, b = vectors.random_bits(fmt, 5000, rng), vectors.random_bits(fmt, 5000, rng)
        assert (golden.add(fmt, a, b) == golden.add(fmt, b, a)).all()
        assert (golden.mul(fmt, a, b) == golden.mul(fmt, b, a)).all()
        finite = vectors.random_finite(fmt, 5000, rng)
        assert (golden.add(fmt, finite, finite ^ fmt.sign_bit) == 0).all()       # x + (−x) = +0
        one = np.full(5000, fmt.bias << fmt.man_bits)
        assert (golden.mul(fmt, finite, one) == finite).all()                     # x · 1 = x
        assert (golden.mul(fmt, finite, one | fmt.sign_bit) == finite ^ fmt.sign_bit).all()


def test_golden_refuses_a_host_that_flushes_subnormals_and_unknown_formats():
    golden.check_host()  # this host computes float32 subnormals
    with pytest.raises(ValueError, match="no golden model"):
        golden.add(FloatFormat(8, 7), [0], [0])
    with pytest.raises(ValueError, match="int_bits"):
        golden.from_int(FP32, 54, [0])
    with pytest.raises(ValueError, match="does not hold"):
        golden.widen(FP32, FP16, [0])


# --- vectors --------------------------------------------------------------------------------------


def test_vectors_are_deterministic_and_complete():
    for make in (vectors.add_vectors, vectors.mul_vectors):
        one, two = make(FP32, 20_000, seed=9), make(FP32, 20_000, seed=9)
        assert all(np.array_equal(one[k], two[k]) for k in one) and len(one["a"]) == 20_000
        assert not np.array_equal(one["a"], make(FP32, 20_000, seed=10)["a"])
        assert make(FP32, 10, seed=9)["a"].size > 1000  # the adversarial set is always whole
    v = vectors.add_vectors(FP32, 1)
    pairs = _finite_pairs(FP32, v)
    exps = {abs(max((a >> 23) & 255, 1) - max((b >> 23) & 255, 1)) for a, b in pairs}
    assert {0, 1, 23, 24, 25, 26, 30, 200} <= exps
    assert {(0x7F7F_FFFF, 0x7F7F_FFFF), (0x8000_0000, 0x8000_0000), (0x007F_FFFF, 0x0000_0001)} <= set(pairs)
    ints = vectors.from_int_vectors(FP32, 32, 1)["value"].tolist()
    assert {0, -2**31, 2**31 - 1, 2**24 + 1, -(2**24 + 1), 2**25 + 3} <= set(ints)
    fp16 = vectors.from_int_vectors(FP16, 32, 1)["value"].tolist()
    assert {65504, 65519, 65520, 65521} <= set(fp16)
    assert set(vectors.widen_vectors(FP16, 1 << 16)["a"].tolist()) == set(range(1 << 16))


# --- registry -------------------------------------------------------------------------------------


def test_units_are_registered_with_their_tops():
    for name, options, top in [("fp-add", {}, "fp_add_fp32"), ("fp-add", {"format": "fp16"}, "fp_add_fp16"),
                               ("fp-mul", {"format": "fp16"}, "fp_mul_fp16"),
                               ("fp-from-int", {"int_bits": "16", "format": "fp16"}, "fp_from_int16_fp16"),
                               ("fp-widen", {}, "fp_widen_fp16_fp32")]:
        unit = get_unit(name)
        assert unit.top(resolve_params(unit, options=options)) == top
        assert unit.default_vectors >= 20_000


@pytest.mark.parametrize(("name", "options", "message"), [
    ("fp-add", {"format": "fp64"}, "format must be one of fp32, fp16, got 'fp64'"),
    ("fp-mul", {"format": "bf16"}, "format must be one of fp32, fp16, got 'bf16'"),
    ("fp-from-int", {"int_bits": "1"}, "int_bits must be 2 to 53"),
    ("fp-from-int", {"int_bits": "64"}, "int_bits must be 2 to 53"),
    ("fp-from-int", {"int_bits": "x"}, "parameter int_bits takes an integer"),
    ("fp-widen", {"src": "fp32", "dst": "fp16"}, "cannot widen fp32 to fp16"),
    ("fp-widen", {"src": "fp16", "dst": "fp16"}, "cannot widen fp16 to fp16"),
    ("fp-widen", {"dst": "fp8"}, "dst must be one of fp32, fp16, got 'fp8'"),
])
def test_bad_parameters_are_one_message(name, options, message):
    with pytest.raises(UserError, match=message):
        resolve_params(get_unit(name), options=options)


def test_components_refuse_impossible_shapes():
    with pytest.raises(ValueError, match="fewer fraction bits"):
        FloatWiden(FP32, FP16)
    with pytest.raises(ValueError, match="at least 2 bits"):
        IntToFloat(1, FP32)


def test_verilog_from_the_cli(cli, tmp_path):
    result = cli("verilog", "fp-add", "-p", "format=fp16", "-o", str(tmp_path), "--json")
    assert result.code == 0, result.stderr
    ports = {p["name"]: p for p in result.json()["ports"]}
    assert {n: (p["direction"], p["width"]) for n, p in ports.items()} == {
        "a": ("in", 16), "b": ("in", 16), "sum": ("out", 16)}
    assert (tmp_path / "fp_add_fp16.v").exists()
    bad = cli("verilog", "fp-add", "-p", "format=fp8", "-o", str(tmp_path / "x"))
    assert bad.code == 2 and "format must be one of" in bad.stderr


CASES = [("fp-add", {"format": "fp32"}), ("fp-add", {"format": "fp16"}),
         ("fp-mul", {"format": "fp32"}), ("fp-mul", {"format": "fp16"}),
         ("fp-from-int", {"format": "fp32"}), ("fp-from-int", {"format": "fp16"}),
         ("fp-from-int", {"format": "fp16", "int_bits": "16"}),
         ("fp-from-int", {"format": "fp16", "int_bits": "4"}), ("fp-widen", {})]
IDS = [f"{n}-{'-'.join(o.values()) or 'default'}" for n, o in CASES]


@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_generated_verilog_is_lint_clean(name, options):
    unit = get_unit(name)
    assert lint(elaborate(unit, resolve_params(unit, options=options))) == []


# --- the RTL on the Amaranth simulator ----------------------------------------------------------

OUTPUT = {"fp-add": "sum", "fp-mul": "product", "fp-from-int": "result", "fp-widen": "result"}


@pytest.mark.parametrize(("name", "options"), CASES, ids=IDS)
def test_rtl_matches_golden_on_a_spot_check(name, options):
    """400 vectors drawn from the unit's adversarial set and 100 random ones, on Amaranth's
    simulator, compared bit for bit with the golden model."""
    unit = get_unit(name)
    params = resolve_params(unit, options=options)
    v = unit.vectors(params, 1, 0)
    adversarial = len(next(iter(v.values())))
    v = unit.vectors(params, adversarial + 100, 0)
    rng = np.random.default_rng(11)
    pick = np.concatenate([rng.choice(adversarial, min(400, adversarial), replace=False),
                           np.arange(adversarial, adversarial + 100)])
    want = unit.golden(params, v)[pick]
    drive = {port: values[pick] for port, values in unit.bench.drive(params, v).items()}
    dut = unit.build(params)
    got = []

    async def bench(ctx):
        for i in range(len(pick)):
            for port, values in drive.items():
                ctx.set(getattr(dut, port), int(values[i]))
            got.append(ctx.get(getattr(dut, OUTPUT[name])))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    bad = [(i, {p: hex(int(x[i])) for p, x in drive.items()}, hex(g), hex(int(w)))
           for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    assert bad == []
