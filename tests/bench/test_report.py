"""Benchmark tables, JSON and the machine header render correctly."""
import json
import math

import numpy as np

from audio3a.report import cpu_model, format_value, header, markdown_table, write_json


def test_markdown_table_columns_alignment_and_missing_cells():
    rows = [{"name": "hpf", "p50_us": 3.14159, "frames": 600},
            {"name": "ns", "p50_us": float("nan"), "frames": 600, "extra": "x|y"}]
    text = markdown_table(rows)
    lines = text.strip().splitlines()
    assert lines[0] == "| name | p50_us | frames | extra |"
    assert lines[1] == "|---|---:|---:|---|"          # numbers right-aligned, text left
    assert lines[2] == "| hpf | 3.14 | 600 | – |"       # missing cell -> dash
    assert lines[3] == "| ns | – | 600 | x\\|y |"       # NaN -> dash, pipe escaped
    assert len(lines) == 4


def test_markdown_table_selected_columns_with_headers():
    rows = [{"a": 1.0, "b": 123456.7, "c": "skip"}]
    text = markdown_table(rows, [("b", "B µs"), "a"])
    assert text.splitlines()[0] == "| B µs | a |"
    assert text.splitlines()[2] == "| 123457 | 1.00 |"


def test_format_value_significant_figures():
    assert format_value(0.0123456) == "0.0123"
    assert format_value(12.345) == "12.3"
    assert format_value(np.float32(2.5)) == "2.50"
    assert format_value(np.int64(7)) == "7"
    assert format_value(None) == "–"
    assert format_value(float("inf")) == "inf"
    assert format_value(True) == "yes"


def test_empty_table():
    assert markdown_table([], []) == ""


def test_write_json_numpy_nan_and_nested(tmp_path):
    p = write_json(tmp_path / "sub" / "r.json",
                   {"a": np.float32(1.5), "b": np.arange(3), "c": float("nan"), "d": [np.int16(4)],
                    "e": float("-inf")})
    data = json.loads(p.read_text())
    assert data == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [4], "e": "-inf"}


def test_header_names_the_cpu():
    model = cpu_model()
    assert model and model != "unknown CPU"
    text = header("t")
    assert text.startswith("## t\n")
    assert f"CPU: {model}" in text
    assert "numba" in text and "cores" in text


def test_cpu_model_matches_proc_cpuinfo():
    try:
        lines = open("/proc/cpuinfo").read().splitlines()
    except OSError:
        return
    names = [ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("model name")]
    if names:
        assert cpu_model() == names[0]
    assert not math.isnan(len(cpu_model()))


def test_nested_values_left_out_of_default_columns():
    text = markdown_table([{"a": 1, "by_kind": {"x": 1.0}, "b": [1, 2]}])
    assert text.splitlines()[0] == "| a |"
