"""The FlightLLM chain on UltraScale+ (Yosys ``synth_xilinx -family xcup``): every multiplier in a
DSP48E2, the count a chain must map to, and the U280 fit built from it (slow: Yosys runs)."""

from __future__ import annotations

import pytest

from hw.fpga import fpga_devices, fpga_report
from hw.registry import get_unit, resolve_params

pytestmark = pytest.mark.slow


def _report(name: str, length: int) -> dict:
    unit = get_unit(name)
    return fpga_report(unit, resolve_params(unit, options={"length": str(length)}), "xcup")


def test_the_chain_maps_its_l_multipliers_onto_l_dsp48e2():
    """16 slices → exactly 16 DSP48E2 (a LUT multiplier would lower the count), and the U280
    fit divides the device by what one chain uses."""
    doc = _report("flightllm-chain-psum", 16)
    fit = doc["fit"]
    assert doc["cells"]["DSP48E2"] == doc["dsp"] == fit["dsp_expected"] == 16 and fit["dsp_matches"]
    u280 = fpga_devices()["alveo-u280"]
    assert fit["resources"]["dsp"]["instances"] == u280.dsp // 16 == 564
    assert fit["resources"]["lut"]["instances"] == u280.lut // doc["lut"]
    binding = fit["binding"]
    assert fit["instances"] == min(row["instances"] for row in fit["resources"].values()
                                   if row["instances"] is not None)
    assert fit["instances"] == fit["resources"][binding]["instances"]
    macs = fit["macs_per_cycle"]
    assert macs["kept-weight INT8 MACs (every N), runs streamed"] == {
        "per_instance": 32, "device": 32 * fit["instances"]}
    assert macs["dense-equivalent MACs at N = 4, runs streamed"]["per_instance"] == 128
    # one run in flight, as built: K = 4096 is 256 blocks of a 256 + 16 = 272-cycle run
    assert macs["kept-weight INT8 MACs, one run in flight, K = 4096 (LLaMA2-7B)"][
        "per_instance"] == round(32 * 256 / 272, 1)
    assert doc["p_cascade_links"] == 0 and "DSP48E2" in doc["p_cascade_why"]


def test_no_u280_fit_for_another_family():
    """A 7-series netlist (DSP48E1, the 27-bit A split over two) is not fitted onto the
    UltraScale+ card."""
    unit = get_unit("flightllm-chain-psum")
    doc = fpga_report(unit, resolve_params(unit, options={"length": "2"}), "xc7")
    assert doc["cells"].get("DSP48E1") == doc["dsp"] == 4 and doc["fit"] is None


def test_the_output_stage_adds_two_dsp48e2_per_fp32_multiplier():
    """A 4-slice chain with its FP32 stage: 4 chain slices + 4 FP32 multipliers (2 row lanes ×
    2 tokens) of 2 DSP48E2 each."""
    doc = _report("flightllm-chain", 4)
    assert doc["dsp"] == doc["fit"]["dsp_expected"] == 4 + 2 * 4
