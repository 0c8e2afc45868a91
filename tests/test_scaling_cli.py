"""``inferentia-kernels scale``: the scaling table, --json, --plot."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import inferentia_kernels as ik
from inferentia_kernels.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["scale", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_table_has_a_row_per_core_count(capsys):
    code, out, _ = run(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("resnet50, int8, data_parallel, 8 images per core")
    rows = [line.split() for line in lines if line.split() and line.split()[0].isdigit()]
    assert [int(row[0]) for row in rows] == [1, 2, 4, 8, 16]
    assert [float(row[3]) for row in rows] == [32.0, 64.0, 128.0, 256.0, 512.0]  # peak TOPS
    assert all(row[-1] in ("compute", "dram", "link", "vector") for row in rows)
    report = ik.scaling("resnet50")
    assert [f"{r.throughput:.1f}" for r in report.rows] == [row[5] for row in rows]


def test_json_parses_and_matches_the_api(capsys):
    code, out, _ = run(capsys, "--json", "--workload", "bert_base", "--seq-len", "64", "--cores", "1,4,16",
                       "--precision", "bf16", "--batch", "16", "--strategy", "pipeline")
    assert code == 0
    data = json.loads(out)
    assert data["workload"] == "bert_base(seq_len=64)" and data["strategy"] == "pipeline"
    assert data["batch"] == 16 and data["precision"] == "bf16"
    assert [row["cores"] for row in data["rows"]] == [1, 4, 16]
    assert [row["batch"] for row in data["rows"]] == [16, 16, 16]
    expected = ik.scaling(ik.workloads.bert_base(64), cores=(1, 4, 16), precision="bf16", batch=16,
                          strategy="pipeline").to_dict()
    assert data == json.loads(json.dumps(expected))
    for row in data["rows"]:
        assert set(row) >= {"peak_tops", "achieved_tops", "throughput", "efficiency", "bound"}


def test_cores_with_64_and_batch_per_core(capsys):
    code, out, _ = run(capsys, "--json", "--cores", "1,2,4,8,16,64", "--batch-per-core", "4")
    data = json.loads(out)
    assert [row["batch"] for row in data["rows"]] == [4, 8, 16, 32, 64, 256]
    assert data["rows"][-1]["peak_tops"] == pytest.approx(2048.0)


def test_plot_writes_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "scaling.png"
    code, out, _ = run(capsys, "--cores", "1,4,16", "--plot", str(path))
    assert code == 0 and f"plot written to {path}" in out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, out, err = run(capsys, "--plot", str(tmp_path / "x.png"))
    assert code == 2 and out == ""
    assert "--plot needs matplotlib" in err and "inferentia-kernels[plot]" in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("argv", [["--cores", "0"], ["--cores", "two"], ["--precision", "fp32"],
                                  ["--strategy", "zero"], ["--workload", "vgg"]])
def test_bad_arguments_exit_with_usage(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(["scale", *argv])
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_bad_batch_is_reported_without_a_traceback(capsys):
    code, out, err = run(capsys, "--batch", "0")
    assert code == 2 and out == ""
    assert "scaling: batch must be None or an int >= 1, got 0" in err


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "inferentia_kernels", "scale", "--json", "--cores", "4,16"],
                            capture_output=True, text=True, check=True)
    data = json.loads(result.stdout)
    assert [row["cores"] for row in data["rows"]] == [4, 16]
    assert data["rows"][1]["chip_efficiency"] >= 0.9
