"""The performance model: golden numbers computed by hand, the strategies, the calibration.

Hand arithmetic used below (NeuronCoreSpec.inf1()):

* array R = C = 128, clock f = 128e12 / (4 * 128 * 128 * 2 * 2) = 0.48828125 GHz;
* a fold streaming T rows takes 2R + C + T - 2 = 382 + T cycles;
* folds = ceil(K / 128) * ceil(N / 128) for BF16/FP16 and ceil(K / 256) * ceil(N / 128) for INT8;
* DRAM: 50 GiB/s = 53,687,091,200 B/s per chip, shared equally by the chip's active cores;
  link 16 GiB/s = 17,179,869,184 B/s; on-chip path 50 GiB/s; SRAM 12 MiB = 12,582,912 B.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import pytest

import inferentia_kernels as ik
from inferentia_kernels.device import fold_cycles, folds, gemm_cycles
from inferentia_kernels.device.profile import BOUNDS
from inferentia_kernels.errors import InvalidArgumentError, InvalidDtypeError
from inferentia_kernels.workloads import Conv2d, Gemm, LayerNorm, ResidualAdd, Workload

F = 0.48828125e9  # clock, Hz
GIB = 2**30
DRAM = 50 * GIB
LINK = 16 * GIB
ON_CHIP = 50 * GIB
INF1 = ik.NeuronCoreSpec.inf1()
#: memory and links made (almost) free, to isolate the tensor engine in the strategy tests
FREE_MEMORY = dataclasses.replace(INF1, dram_gib_s=1e9, link_gib_s=1e9, on_chip_gib_s=1e9)


def only_op(profile):
    assert len(profile.ops) == 1
    return profile.ops[0]


# ---------------------------------------------------------------------------------------------
# the chip


def test_peak_tops():
    assert INF1.peak_tops("int8") == pytest.approx(32.0)
    assert INF1.peak_tops("bf16") == pytest.approx(16.0)
    assert INF1.peak_tops("fp16") == pytest.approx(16.0)
    assert ik.Device(1).peak_tops() == pytest.approx(32.0)  # int8 by default
    assert ik.Device(4).peak_tops("fp16") == pytest.approx(64.0)  # AWS: 64 FP16 TFLOPS per chip
    assert ik.Device(4).peak_tops("int8") == pytest.approx(128.0)  # AWS: 128 INT8 TOPS per chip
    assert ik.Device(16).peak_tops("int8") == pytest.approx(512.0)
    assert ik.Device(16).peak_tops("bf16") == pytest.approx(256.0)


def test_inf2_preset_follows_the_published_chip_figures():
    inf2 = ik.NeuronCoreSpec.inf2()
    assert 2 * inf2.peak_tops("fp16") == pytest.approx(190.0)
    assert 2 * inf2.peak_tops("int8") == pytest.approx(380.0)
    assert ik.Device(2, cores_per_chip=2, core=inf2).peak_tops("int8") == pytest.approx(380.0)


@pytest.mark.parametrize("preset", [ik.NeuronCoreSpec.inf1, ik.NeuronCoreSpec.inf2])
def test_every_spec_parameter_has_a_source(preset):
    spec = preset()
    sources = spec.sources()
    fields = [f.name for f in dataclasses.fields(spec) if not f.name.startswith("_")]
    assert sorted(sources) == sorted(fields)
    assert all(text and text != "user value" for text in sources.values())
    changed = dataclasses.replace(spec, sram_mib=4.0).sources()
    assert changed["sram_mib"] == "user value" and changed["dram_gib_s"] == sources["dram_gib_s"]


def test_spec_is_frozen_and_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        INF1.pe_rows = 64
    with pytest.raises(InvalidArgumentError, match="NeuronCoreSpec: pe_rows must be a finite number > 0"):
        dataclasses.replace(INF1, pe_rows=0)
    with pytest.raises(InvalidDtypeError, match="NeuronCoreSpec: pe_cols must be an int"):
        dataclasses.replace(INF1, pe_cols=128.0)
    with pytest.raises(InvalidArgumentError, match="dram_gib_s"):
        dataclasses.replace(INF1, dram_gib_s=float("nan"))


# ---------------------------------------------------------------------------------------------
# golden cycle counts


def test_fold_formula_by_hand():
    assert fold_cycles(1, INF1) == 383
    assert fold_cycles(100, INF1) == 482
    # K = 300, N = 200: FP16 ceil(300/128) * ceil(200/128) = 3 * 2; INT8 ceil(300/256) * 2 = 2 * 2
    assert folds(300, 200, "fp16", INF1) == 6
    assert folds(300, 200, "bf16", INF1) == 6
    assert folds(300, 200, "int8", INF1) == 4
    # tile size +-1
    assert folds(128, 128, "fp16", INF1) == 1 and folds(129, 128, "fp16", INF1) == 2
    assert folds(128, 129, "fp16", INF1) == 2 and folds(256, 128, "int8", INF1) == 1
    assert folds(257, 128, "int8", INF1) == 2
    assert gemm_cycles(100, 300, 200, "fp16", INF1) == 6 * 482 == 2892
    assert gemm_cycles(100, 300, 200, "int8", INF1, products=3) == 3 * 4 * 482


@pytest.mark.parametrize(("precision", "cycles"), [("fp16", 6 * 482), ("bf16", 6 * 482), ("int8", 4 * 482)])
def test_small_gemm_estimate_by_hand(precision, cycles):
    # [100, 300] x [300, 200] on one core: compute-bound (the weights are resident, the input
    # and output are 60 KB and 40 KB: about 1 us of DRAM for fp16, less than the compute)
    op = only_op(ik.Device(1).estimate(Gemm("g", m=100, k=300, n=200), precision=precision))
    core = op.cores[0]
    assert op.cycles == core.cycles == cycles
    assert core.compute_s == pytest.approx(cycles / F)
    assert op.seconds == pytest.approx(cycles / F)
    assert op.bound == "compute"
    assert op.macs == 100 * 300 * 200
    assert op.tops == pytest.approx(2 * 100 * 300 * 200 / (cycles / F) / 1e12)
    # in and out bytes: read from / written to DRAM (the network's ends)
    size = 1 if precision == "int8" else 2
    assert core.dram_bytes == (100 * 300 + 100 * 200) * size


def test_streamed_rows_are_the_batch_times_the_output_pixels():
    # conv1 of ResNet-50, batch 2: M = 2 * 112 * 112 = 25088 streamed rows, K = 7 * 7 * 3 = 147
    conv = Conv2d("conv1", 3, 64, 7, 224, stride=2, padding=3)
    assert conv.output_size == (112, 112)
    for precision, n_folds in (("fp16", 2), ("int8", 1)):  # ceil(147/128) = 2, ceil(147/256) = 1
        op = only_op(ik.Device(1).estimate(conv, batch=2, precision=precision))
        assert op.cores[0].folds == n_folds
        assert op.cycles == n_folds * (382 + 25088)
        assert op.seconds == pytest.approx(n_folds * (382 + 25088) / F)
    # two cores: one image each, T = 12544
    op = only_op(ik.Device(2).estimate(conv, batch=2, precision="int8"))
    assert [c.cycles for c in op.cores] == [382 + 12544] * 2
    assert [c.samples for c in op.cores] == [1, 1]


def test_attention_products_load_their_own_stationary_operand():
    # Q K^T for 12 heads, 128 tokens: every (sample, head) is its own product with T = 128
    scores = Gemm("scores", m=128, k=64, n=128, count=12, shared_weights=False)
    op = only_op(ik.Device(1).estimate(scores, batch=2, precision="fp16"))
    assert op.cycles == 2 * 12 * 1 * (382 + 128)
    assert op.cores[0].dram_bytes == scores.in_elements * 2 * 2 + scores.out_elements * 2 * 2  # no weights


# ---------------------------------------------------------------------------------------------
# memory


GEMV = Gemm("gemv", m=1, k=4096, n=4096)  # INT8 weights: 16 MiB > 12 MiB of SRAM: streamed
GEMV_BYTES = 4096 * 4096 + 4096 + 4096  # weights + input + output
GEMV_CYCLES = 16 * 32 * 383  # ceil(4096/256) * ceil(4096/128) folds of 382 + 1 cycles


def test_compute_bound_on_one_core_dram_bound_when_four_cores_share_the_chip():
    one = only_op(ik.Device(1).estimate(GEMV, precision="int8")).cores[0]
    assert one.weights_resident is False
    assert one.dram_bytes == GEMV_BYTES
    assert one.dram_s == pytest.approx(GEMV_BYTES / DRAM)  # 0.313 ms
    assert one.compute_s == pytest.approx(GEMV_CYCLES / F)  # 0.402 ms: loading weight tiles
    assert one.bound == "compute" and one.seconds == pytest.approx(GEMV_CYCLES / F)

    four = ik.Device(4).estimate(GEMV, batch=4, precision="int8")
    for core in only_op(four).cores:  # each core streams all the weights at 12.5 GiB/s
        assert core.dram_s == pytest.approx(GEMV_BYTES / (DRAM / 4))  # 1.25 ms
        assert core.bound == "dram"
    assert four.seconds == pytest.approx(GEMV_BYTES / (DRAM / 4))
    assert four.throughput / ik.Device(1).estimate(GEMV, precision="int8").throughput == pytest.approx(
        4 * (GEMV_CYCLES / F) / (GEMV_BYTES / (DRAM / 4)))  # 1.28x on 4 cores, not 4x

    # a second chip brings its own DRAM: 8 cores on 2 chips = exactly twice 4 cores
    eight = ik.Device(8).estimate(GEMV, batch=8, precision="int8")
    assert eight.throughput == pytest.approx(2 * four.throughput)
    # a fifth core alone on the second chip has all of that chip's bandwidth
    five = only_op(ik.Device(5).estimate(GEMV, batch=5, precision="int8"))
    assert five.cores[4].chip == 1 and five.cores[4].dram_s == pytest.approx(GEMV_BYTES / DRAM)
    assert five.cores[0].dram_s == pytest.approx(GEMV_BYTES / (DRAM / 4))


def test_dram_bound_elementwise_op_that_spills():
    # 4 Mi fp16 elements + 4 Mi of skip: 16 MiB of live input > 12 MiB of SRAM; as the only layer
    # it reads both inputs from DRAM and writes its output there: 24 MiB
    add = ResidualAdd("add", 4 * 2**20)
    op = only_op(ik.Device(1).estimate(add, precision="fp16"))
    core = op.cores[0]
    assert core.activations_on_chip is False
    assert core.dram_bytes == 24 * 2**20
    assert core.dram_s == pytest.approx(24 * 2**20 / DRAM)
    assert core.vector_ops == 4 * 2**20 and core.vector_s == pytest.approx(4 * 2**20 / 256 / F)
    assert op.bound == "dram" and op.seconds == pytest.approx(24 * 2**20 / DRAM)


def test_vector_bound_layer_norm():
    # 7 vector ops per element at 256 per cycle vs 4 bytes per element of DRAM at 50 GiB/s
    norm = LayerNorm("ln", rows=128, features=768)
    core = only_op(ik.Device(1).estimate(norm, precision="int8")).cores[0]
    assert core.vector_ops == 7 * 128 * 768
    assert core.vector_s == pytest.approx(math.ceil(7 * 128 * 768 / 256) / F)
    assert core.bound == "vector"


def test_weights_resident_when_they_fit():
    # 4 MiB of fp16 weights fit in 12 MiB: resident (loaded before the run), no DRAM traffic for
    # them; the same layer in a workload whose weights exceed the SRAM streams them
    layer = Gemm("fc", m=64, k=2048, n=1024)
    core = only_op(ik.Device(1).estimate(layer, precision="fp16")).cores[0]
    assert core.weights_resident and core.dram_bytes == (64 * 2048 + 64 * 1024) * 2
    big = Workload("two", [layer, Gemm("fc2", m=64, k=1024, n=5000)])  # 4 + 9.8 MiB
    profile = ik.Device(1).estimate(big, precision="fp16")
    first = profile.ops[0].cores[0]
    assert not first.weights_resident
    assert first.dram_bytes == 2048 * 1024 * 2 + 64 * 2048 * 2  # weights + the network's input


# ---------------------------------------------------------------------------------------------
# strategies


def two_gemms() -> Workload:
    return Workload("two", [Gemm("g1", m=64, k=128, n=128), Gemm("g2", m=64, k=128, n=128)])


def test_all_strategies_agree_on_one_core():
    for workload in (ik.workloads.resnet50(), two_gemms()):
        seconds = {s: ik.Device(1).estimate(workload, batch=1, precision="int8", strategy=s).seconds
                   for s in ("data_parallel", "pipeline", "tensor_parallel")}
        assert len({round(v, 15) for v in seconds.values()}) == 1, seconds


def test_data_parallel_splits_the_batch():
    profile = ik.Device(4).estimate(ik.workloads.resnet50(), batch=10, precision="int8")
    assert profile.plan["samples_per_core"] == [3, 3, 2, 2]
    for op in profile.ops:
        assert [c.samples for c in op.cores] == [3, 3, 2, 2]
    assert profile.macs == 10 * ik.workloads.resnet50().macs
    assert sum(op.macs for op in profile.ops) == profile.macs
    # batch 1 on 16 cores: one core works, the others idle
    single = ik.Device(16).estimate(ik.workloads.resnet50(), batch=1, precision="int8")
    assert single.plan["active_cores"] == 1
    assert single.seconds == pytest.approx(ik.Device(1).estimate(ik.workloads.resnet50(), precision="int8").seconds)


def test_pipeline_link_and_on_chip_transfers():
    # g1 | g2 on two cores; the 64 x 128 fp16 activation (16 KiB) crosses between them
    for per_chip, rate, path in ((1, LINK, "link"), (2, ON_CHIP, "on chip")):
        profile = ik.Device(2, cores_per_chip=per_chip).estimate(two_gemms(), precision="fp16", strategy="pipeline")
        assert [op.name for op in profile.ops] == ["g1", f"g1 -> core 1 ({path})", "g2"]
        transfer = profile.ops[1]
        assert transfer.kind == "transfer" and transfer.bound == "link"
        assert transfer.seconds == pytest.approx(64 * 128 * 2 / rate)
        assert transfer.link_bytes == 64 * 128 * 2
        assert [op.cores[0].core for op in profile.ops] == [0, 0, 1]
        stage = (382 + 64) / F  # one fold each
        assert profile.seconds == pytest.approx(2 * stage + 64 * 128 * 2 / rate)  # batch 1: the latency


def test_pipeline_time_fill_plus_periods():
    # two layers of 2 folds, 128 rows per sample, batch 16, memory free: per micro-batch of u
    # samples a stage takes 2 * (382 + 128u) cycles and total = (2 + 16/u - 1) * stage:
    # u=16: 9720, u=8: 8436, u=4: 8940, u=2: 11484, u=1: 17340 cycles -> u = 8
    layers = Workload("two", [Gemm("a", m=128, k=256, n=128), Gemm("b", m=128, k=256, n=128)])
    profile = ik.Device(2, core=FREE_MEMORY).estimate(layers, batch=16, precision="fp16", strategy="pipeline")
    assert profile.plan["micro_batch"] == 8 and profile.plan["micro_batches"] == 2
    assert profile.seconds == pytest.approx(8436 / F, rel=1e-6)
    assert profile.plan["steady_state_per_s"] == pytest.approx(8 / (2 * (382 + 1024) / F), rel=1e-6)
    one_core = ik.Device(1, core=FREE_MEMORY).estimate(layers, batch=16, precision="fp16")
    assert one_core.seconds == pytest.approx(4 * (382 + 2048) / F, rel=1e-6)  # 9720 cycles


@pytest.mark.parametrize("cores", [2, 3, 4])
@pytest.mark.parametrize("fold_counts", [(1, 1, 1, 1, 4), (3, 1, 1, 1, 2, 2), (1, 5, 2, 2, 1, 3, 1)])
def test_pipeline_stages_are_balanced(cores, fold_counts):
    # compute-bound layers of 1..5 folds (memory free): the slowest stage equals the best
    # contiguous partition found by brute force
    layers = Workload("chain", [Gemm(f"g{i}", m=512, k=128, n=128 * f) for i, f in enumerate(fold_counts)])
    profile = ik.Device(cores, core=FREE_MEMORY).estimate(layers, precision="fp16", strategy="pipeline")
    times = [(382 + 512) * f / F for f in fold_counts]
    best = min(
        max(sum(times[a:b]) for a, b in zip((0, *cuts), (*cuts, len(times))))
        for parts in range(1, cores + 1)
        for cuts in itertools.combinations(range(1, len(times)), parts - 1)
    )
    assert max(profile.plan["stage_ms"]) / 1e3 == pytest.approx(best, rel=1e-6)
    assert profile.plan["stages"] + profile.plan["idle_cores"] == cores


def test_pipeline_imbalance_is_reported():
    # one layer of 4 folds and four of 1 on 3 cores: the big layer bounds the period; the planner
    # needs only 2 stages and leaves a core idle
    layers = Workload("chain", [Gemm(f"g{i}", m=512, k=128, n=128 * f) for i, f in enumerate((1, 1, 1, 1, 4))])
    profile = ik.Device(3, core=FREE_MEMORY).estimate(layers, precision="fp16", strategy="pipeline")
    assert profile.plan["stages"] == 2 and profile.plan["idle_cores"] == 1
    assert profile.plan["imbalance"] == pytest.approx(1.0)


def test_tensor_parallel_splits_n():
    layer = Gemm("wide", m=256, k=128, n=512)
    one = only_op(ik.Device(1, core=FREE_MEMORY).estimate(layer, precision="fp16"))
    four = only_op(ik.Device(4, core=FREE_MEMORY).estimate(layer, precision="fp16", strategy="tensor_parallel"))
    assert one.cycles == 4 * (382 + 256)
    assert [c.cycles for c in four.cores] == [382 + 256] * 4  # 128 columns per core
    assert one.seconds / four.seconds == pytest.approx(4.0, rel=1e-6)
    # N = 256 over 4 cores: 64 columns each still take a whole fold -> only 2x
    narrow = Gemm("narrow", m=256, k=128, n=256)
    one = ik.Device(1, core=FREE_MEMORY).estimate(narrow, precision="fp16")
    four = ik.Device(4, core=FREE_MEMORY).estimate(narrow, precision="fp16", strategy="tensor_parallel")
    assert one.seconds / four.seconds == pytest.approx(2.0, rel=1e-6)


def test_tensor_parallel_gathers_over_the_link_between_chips():
    # g2 needs all of g1's output (64 x 128 fp16 = 16 KiB), half of which is on the other core
    x = 64 * 128 * 2
    same_chip = ik.Device(2, cores_per_chip=2).estimate(two_gemms(), precision="fp16", strategy="tensor_parallel")
    two_chips = ik.Device(2, cores_per_chip=1).estimate(two_gemms(), precision="fp16", strategy="tensor_parallel")
    assert same_chip.ops[0].cores[0].link_s == 0.0  # the first layer reads its input from DRAM
    assert same_chip.ops[1].cores[0].link_s == pytest.approx(x / 2 / ON_CHIP)
    assert two_chips.ops[1].cores[0].link_s == pytest.approx(x / 2 / ON_CHIP + x / 2 / LINK)
    assert two_chips.ops[1].cores[0].link_bytes == x // 2
    assert two_chips.seconds - same_chip.seconds == pytest.approx(x / 2 / LINK)


def test_batch_one_latency_tensor_parallel_helps_data_parallel_cannot():
    resnet = ik.workloads.resnet50()
    one = ik.Device(1).estimate(resnet, precision="int8")
    dp = ik.Device(4).estimate(resnet, precision="int8")
    tp = ik.Device(4).estimate(resnet, precision="int8", strategy="tensor_parallel")
    assert dp.seconds == pytest.approx(one.seconds)
    assert tp.seconds < 0.8 * one.seconds


# ---------------------------------------------------------------------------------------------
# calibration and scaling targets


def test_calibration_resnet50_fp16_inf1_xlarge():
    # AWS: inf1.xlarge (one chip, 4 NeuronCores), ResNet-50 FP16, batch 10: 2207 images/s.
    # Target: the model within +-25 % with no fudge factor (docs/perf-model.md, section 6).
    profile = ik.Device(4).estimate(ik.workloads.resnet50(), batch=10, precision="fp16")
    assert 0.75 * 2207 <= profile.throughput <= 1.25 * 2207
    assert profile.throughput == pytest.approx(1969, abs=1)  # the number stated in the docs


def test_data_parallel_scale_out_one_chip_to_four_chips():
    # ResNet-50 INT8, 8 images per core: 4 cores (one chip) -> 16 cores (four chips) >= 90 % of linear
    resnet = ik.workloads.resnet50()
    chip = ik.Device(4).estimate(resnet, batch=32, precision="int8")
    four_chips = ik.Device(16).estimate(resnet, batch=128, precision="int8")
    assert four_chips.throughput / (4 * chip.throughput) >= 0.9
    report = ik.scaling(resnet, cores=(1, 2, 4, 8, 16), precision="int8")
    assert report.row(16).chip_efficiency >= 0.9
    assert report.row(16).peak_tops == pytest.approx(512.0)


def test_scaling_inside_a_chip_pays_for_the_shared_dram():
    report = ik.scaling(ik.workloads.resnet50(), cores=(1, 2, 4), precision="int8")
    one, two, four = (report.row(n) for n in (1, 2, 4))
    assert one.efficiency == pytest.approx(1.0)
    assert four.efficiency < two.efficiency <= 1.0
    dram_share = report.profiles[2].seconds_by_bound()["dram"] / report.profiles[2].seconds
    assert dram_share > report.profiles[0].seconds_by_bound()["dram"] / report.profiles[0].seconds


def test_where_scaling_breaks_batch_one():
    report = ik.scaling(ik.workloads.resnet50(), cores=(1, 4, 16), batch=1)
    assert report.row(16).efficiency == pytest.approx(1 / 16)
    assert report.row(16).throughput == pytest.approx(report.row(1).throughput)


# ---------------------------------------------------------------------------------------------
# the Profile


@pytest.mark.parametrize("strategy", ["data_parallel", "pipeline", "tensor_parallel"])
def test_profile_fields(strategy):
    profile = ik.Device(8).estimate(ik.workloads.bert_base(64), batch=8, precision="bf16", strategy=strategy)
    assert profile.seconds > 0 and profile.throughput == pytest.approx(8 / profile.seconds)
    assert profile.tops == pytest.approx(2 * profile.macs / profile.seconds / 1e12)
    assert 0 < profile.utilization < 1
    assert profile.utilization == pytest.approx(profile.tops / ik.Device(8).peak_tops("bf16"))
    assert profile.bound in BOUNDS
    for op in profile.ops:
        assert op.bound in BOUNDS and op.cores
        assert op.seconds == max(c.seconds for c in op.cores)
        assert 0 <= op.utilization <= 1
        for core in op.cores:
            assert core.seconds == pytest.approx(max(core.compute_s, core.dram_s, core.vector_s) + core.link_s)
    data = json.loads(json.dumps(profile.to_dict()))
    assert data["strategy"] == strategy and len(data["ops"]) == len(profile.ops)
    assert data["ops"][0]["cores"][0]["core"] == profile.ops[0].cores[0].core
    text = profile.summary()
    assert "throughput" in text and "sequences/s" in text and "binding resource" in text
    assert profile.op(profile.ops[-1].name) is profile.ops[-1]


def test_estimate_accepts_a_list_and_a_single_layer():
    layers = [Gemm("a", m=8, k=64, n=64), ResidualAdd("r", 512)]
    assert ik.Device(1).estimate(layers).workload == "workload"
    assert ik.Device(1).estimate(layers[0]).workload == "a"


# ---------------------------------------------------------------------------------------------
# workloads


def test_resnet50_shapes():
    resnet = ik.workloads.resnet50()
    assert resnet.name == "resnet50" and resnet.sample == "image"
    assert sum(layer.kind == "conv" for layer in resnet) == 53
    assert sum(layer.kind == "add" for layer in resnet) == 16
    assert resnet.macs == 4_089_184_256  # 4.09 GMAC (torchvision: 4.09 G)
    assert resnet.weight_elements == 25_502_912  # convolutions and fc, bias and batch norm excluded
    assert resnet[-1].kind == "gemm" and (resnet[-1].k, resnet[-1].n) == (2048, 1000)
    stride_two = [layer.name for layer in resnet if layer.kind == "conv" and layer.stride == (2, 2)]
    assert "layer2.0.conv2" in stride_two and "layer2.0.conv1" not in stride_two  # v1.5


def test_bert_base_shapes():
    bert = ik.workloads.bert_base(128)
    per_layer = 128 * 768 * 2304 + 2 * 12 * 128 * 64 * 128 + 128 * 768 * 768 + 2 * 128 * 768 * 3072
    assert bert.macs == 12 * per_layer  # 11.2 GMAC
    assert bert.weight_elements == 12 * (768 * 2304 + 768 * 768 + 2 * 768 * 3072)
    kinds = {layer.kind for layer in bert}
    assert {"gemm", "softmax", "layernorm", "gelu", "add"} <= kinds


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"cores": 0}, InvalidArgumentError, "Device: cores must be >= 1, got 0"),
    ({"cores": -4}, InvalidArgumentError, "Device: cores must be >= 1"),
    ({"cores": 2.0}, InvalidDtypeError, "Device: cores must be an int"),
    ({"cores": True}, InvalidDtypeError, "Device: cores must be an int"),
    ({"cores": 4, "cores_per_chip": 0}, InvalidArgumentError, "Device: cores_per_chip must be >= 1"),
    ({"cores": 4, "core": "inf1"}, InvalidDtypeError, "Device: core must be a NeuronCoreSpec"),
    ({"cores": 4, "executor": object()}, InvalidDtypeError, "Device: executor must be None or"),
])
def test_bad_device(kwargs, error, message):
    with pytest.raises(error, match=message):
        ik.Device(**kwargs)


def test_partial_chips_are_allowed():
    device = ik.Device(6)
    assert device.chips == 2 and device.cores_per_chip == 4
    assert "cores=6" in repr(device)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"precision": "fp32"}, InvalidArgumentError, "Device.estimate: precision must be one of 'int8', 'bf16', 'fp16'"),
    ({"precision": "int4"}, InvalidArgumentError, "precision must be one of"),
    ({"strategy": "model_parallel"}, InvalidArgumentError,
     "Device.estimate: strategy must be one of 'data_parallel', 'pipeline', 'tensor_parallel'"),
    ({"batch": 0}, InvalidArgumentError, "Device.estimate: batch must be >= 1, got 0"),
    ({"batch": 2.5}, InvalidDtypeError, "Device.estimate: batch must be an int"),
])
def test_bad_estimate_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        ik.Device(4).estimate(ik.workloads.resnet50(), **kwargs)


def test_bad_workloads():
    device = ik.Device(1)
    with pytest.raises(InvalidDtypeError, match="Device.estimate: workload must be a Workload"):
        device.estimate(42)
    with pytest.raises(ValueError, match="Device.estimate: workload must be a sequence of layer specs"):
        device.estimate([])
    with pytest.raises(TypeError, match="layers\\[1\\] must be layer specs"):
        device.estimate([Gemm("a", m=1, k=1, n=1), "conv"])
    with pytest.raises(InvalidArgumentError, match="distinct names"):
        Workload("w", [Gemm("a", m=1, k=1, n=1), Gemm("a", m=2, k=1, n=1)])
    with pytest.raises(InvalidArgumentError, match="weights that fit in one chip's 8 GiB DRAM"):
        device.estimate(Gemm("huge", m=1, k=65536, n=70000), precision="fp16")
    with pytest.raises(InvalidArgumentError, match="Device.peak_tops: precision must be one of"):
        device.peak_tops("fp32")


def test_bad_layer_specs():
    with pytest.raises(InvalidArgumentError, match="Gemm: m must be >= 1, got 0"):
        Gemm("g", m=0, k=1, n=1)
    with pytest.raises(InvalidDtypeError, match="Gemm: name must be a non-empty string"):
        Gemm("", m=1, k=1, n=1)
    with pytest.raises(InvalidArgumentError, match="Conv2d: groups must be a divisor"):
        Conv2d("c", 6, 9, 3, 8, groups=4)
    with pytest.raises(InvalidArgumentError, match="Conv2d: kernel must be no larger than the padded input"):
        Conv2d("c", 3, 8, 9, 4)
    with pytest.raises(InvalidArgumentError, match="resnet50: image_size"):
        ik.workloads.resnet50(image_size=8)
    with pytest.raises(InvalidArgumentError, match="bert_base: seq_len must be an int >= 1"):
        ik.workloads.bert_base(0)


def test_bad_scaling_arguments():
    with pytest.raises(InvalidArgumentError, match="scaling: workload must be a workload or one of"):
        ik.scaling("vgg16")
    with pytest.raises(InvalidDtypeError, match="scaling: cores must be a non-empty sequence"):
        ik.scaling("resnet50", cores=())
    with pytest.raises(InvalidArgumentError, match="scaling: cores must be core counts"):
        ik.scaling("resnet50", cores=(1, 0))
    with pytest.raises(InvalidArgumentError, match="scaling: strategy must be one of"):
        ik.scaling("resnet50", strategy="zero")
    with pytest.raises(InvalidArgumentError, match="scaling: batch must be None or an int >= 1"):
        ik.scaling("resnet50", batch=0)
