"""bench/quality.py runs every quality module, survives a broken one, writes tables/JSON/plots."""
import json
import sys
import types

import pytest

from bench import quality
from bench.report import loss_of


def _module(name, rows=None, fail=False):
    mod = types.ModuleType(name)
    mod.__doc__ = "A fake stage.\n\nMore."

    def run(quick=False):
        if fail:
            raise RuntimeError("boom")
        return [dict(r, quick=quick) for r in rows]

    mod.run = run
    return mod


ROWS = [{"method": "audio3a", "loss": 0.1, "plcmos": 3.2, "pesq_wb": 2.4},
        {"method": "audio3a", "loss": 0.2, "plcmos": 2.9, "pesq_wb": 2.0},
        {"method": "zero-fill", "loss": 0.1, "plcmos": 2.2, "pesq_wb": 1.7}]


def test_discover_finds_quality_modules_present():
    found = quality.discover()
    for stage, module in found.items():
        assert module.startswith("bench.") and (module.endswith(stage) or module == f"bench.{stage}")


def test_run_module_rows_and_errors(monkeypatch):
    monkeypatch.setitem(sys.modules, "bench.quality_fake", _module("bench.quality_fake", ROWS))
    monkeypatch.setitem(sys.modules, "bench.quality_bad", _module("bench.quality_bad", fail=True))
    ok = quality.run_module("bench.quality_fake", quick=True)
    assert len(ok["rows"]) == 3 and ok["rows"][0]["quick"] is True and ok["title"] == "A fake stage."
    bad = quality.run_module("bench.quality_bad", quick=True)
    assert bad["rows"] == [] and "RuntimeError: boom" in bad["error"]


def test_quality_run_writes_tables_json_and_plot(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "bench.quality_fake", _module("bench.quality_fake", ROWS))
    monkeypatch.setitem(sys.modules, "bench.quality_bad", _module("bench.quality_bad", fail=True))
    monkeypatch.setattr(quality, "discover",
                        lambda only=None: {"fake": "bench.quality_fake", "bad": "bench.quality_bad"})
    res = quality.run(quick=True, out=tmp_path, verbose=False, jobs=1)
    md = (tmp_path / "quality.md").read_text()
    assert "| method | loss | plcmos | pesq_wb | quick |" in md
    assert "| zero-fill | 0.1 | 2.20 | 1.70 | yes |" in md
    assert "FAILED" in md and "boom" in md
    data = json.loads((tmp_path / "quality_fake.json").read_text())
    assert data["rows"][1]["plcmos"] == 2.9
    assert res["bad"]["error"]
    pytest.importorskip("matplotlib")
    png = tmp_path / "quality_fake_vs_loss.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_modules_run_side_by_side_in_fresh_processes(monkeypatch, tmp_path):
    """jobs=2: each module in its own spawned process; results come back in discovery order."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a3a_side_one.py").write_text("import os\nTITLE = 'one'\n"
                                         "def run(quick=False):\n    return [dict(pid=os.getpid(), quick=quick)]\n")
    (src / "a3a_side_two.py").write_text("def run():\n    raise ValueError('two broke')\n")
    (src / "a3a_side_three.py").write_text("def main(argv):\n    print('| x | y |')\n    return 0\n")
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.setattr(quality, "discover", lambda only=None: {"one": "a3a_side_one", "two": "a3a_side_two",
                                                               "three": "a3a_side_three"})
    res = quality.run(quick=True, out=tmp_path / "out", verbose=False, plots=False, jobs=2)
    assert list(k for k in res if not k.startswith("_")) == ["one", "two", "three"]
    assert res["one"]["rows"][0]["quick"] is True and res["one"]["title"] == "one"
    assert res["one"]["rows"][0]["pid"] != __import__("os").getpid()
    assert "ValueError: two broke" in res["two"]["error"]
    md = (tmp_path / "out" / "quality.md").read_text()
    assert "| x | y |" in md and "printed by a3a_side_three.main" in md


def test_loss_field_variants():
    assert loss_of({"loss_pct": 20}) == 20.0
    assert loss_of({"loss_rate": 0.1}) == 0.1
    assert loss_of({"snr_db": 5}) is None


def test_loss_parsed_from_condition_text():
    assert loss_of({"condition": "GE 20 % burst 4"}) == 20.0
    assert loss_of({"condition": "Bernoulli 10 %"}) == 10.0
    assert loss_of({"condition": "clean"}) is None


def test_plot_from_condition_rows(tmp_path):
    pytest.importorskip("matplotlib")
    from bench.report import plot_quality_vs_loss

    rows = [{"condition": f"{ch} {p} %", "method": m, "plcmos": 3.0 - p / 20}
            for ch in ("Bernoulli", "GE") for p in (10, 20) for m in ("a", "b")]
    assert plot_quality_vs_loss(rows, tmp_path / "q.png", "t").exists()


def test_module_with_only_main_has_its_output_captured(monkeypatch):
    mod = types.ModuleType("bench.fec_fake")
    mod.__doc__ = "Fake FEC bench."
    seen = {}

    def main(argv=None):
        seen["argv"] = argv
        print("| k | m |\n|---|---|\n| 4 | 2 |")
        return 0

    mod.main = main
    monkeypatch.setitem(sys.modules, "bench.fec_fake", mod)
    res = quality.run_module("bench.fec_fake", quick=True)
    assert seen["argv"] == ["--quick"]
    assert "| 4 | 2 |" in res["markdown"] and not res.get("error")
