"""The hot loops compile to the instructions the design relies on (x86-64 JIT targets)."""

from __future__ import annotations

import platform

import pytest

from inferentia_kernels.kernels.asm import HOT_LOOPS, hot_loop
from inferentia_kernels.kernels.isa import available_paths
from inferentia_kernels.kernels.target import jit_cpu_features

pytestmark = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or "avx2" not in jit_cpu_features(),
    reason="instruction checks are written for x86-64 targets with AVX2",
)


def loop(name: str) -> set[str]:
    kernel, example, containing = HOT_LOOPS[name]
    return set(hot_loop(kernel, *example(), containing=containing))


#: Loop control of a microkernel's k loop (any conditional jump as well).
LOOP_CONTROL = {"addq", "subq", "incq", "decq", "cmpq", "leaq"}


def test_portable_int8_microkernel_is_a_register_resident_multiply_add_loop():
    """Two products per 32-bit lane: vpdpwssd where the target has a VNNI (AVX-VNNI or AVX-512),
    else vpmaddwd + vpaddd; nothing but loads, broadcasts and loop control besides."""
    instructions = loop("INT8 portable microkernel (int16 pairs)")
    if {"avxvnni", "avx512vnni"} & jit_cpu_features():
        arithmetic = {"vpdpwssd"}
    else:
        arithmetic = {"vpmaddwd", "vpaddd"}
    assert arithmetic <= instructions, instructions
    unexpected = {op for op in instructions if not op.startswith("j")} - LOOP_CONTROL - arithmetic - {
        "vmovdqu", "vmovdqu64", "vpbroadcastd"}
    assert not unexpected, ("the loop should only load B, broadcast A and multiply-add (no spills)", instructions)


def test_float_loop_rounds_products_unless_they_are_exact():
    rounded = loop("float GEMM, products rounded (fp32)")
    assert {"vmulps", "vaddps"} <= rounded, rounded
    assert not any(op.startswith("vfmadd") for op in rounded), rounded
    fused = loop("float GEMM, exact products fused (bf16/fp16)")
    assert any(op.startswith("vfmadd") and op.endswith("ps") for op in fused), fused
    assert "vmulps" not in fused and "vaddps" not in fused, fused


def test_float_microkernel_only_loads_broadcasts_and_multiplies_adds():
    """The register-blocked k loop: packed B loaded, A broadcast, the accumulators updated; nothing
    else (no shuffles, gathers, scalar float code or conversions)."""
    for name, arithmetic in [("float GEMM, products rounded (fp32)", {"vmulps", "vaddps"}),
                             ("float GEMM, exact products fused (bf16/fp16)",
                              {"vfmadd231ps", "vfmadd213ps", "vfmadd132ps"})]:
        instructions = loop(name)
        assert "vbroadcastss" in instructions, (name, instructions)
        unexpected = {op for op in instructions if not op.startswith("j")} - LOOP_CONTROL - arithmetic - {
            "vmovups", "vbroadcastss"}
        assert not unexpected, (name, instructions)


@pytest.mark.skipif("vnni" not in available_paths(), reason="the JIT target has no AVX-512 VNNI")
def test_vnni_microkernel_is_a_register_resident_vpdpbusd_loop():
    instructions = loop("INT8 VNNI microkernel (bytes)")
    assert "vpdpbusd" in instructions, instructions
    assert instructions <= {"addq", "decq", "incq", "subq", "cmpq", "jne", "vmovdqu64", "vpbroadcastd", "vpdpbusd"}, (
        "the loop should only load B, broadcast A and multiply-add (no spills)", instructions)


@pytest.mark.skipif("amx" not in available_paths(), reason="the host has no usable AMX-INT8")
def test_amx_microkernel_loop_loads_tiles_and_multiplies():
    instructions = loop("INT8 AMX microkernel (tiles)")
    assert {"tileloadd", "tdpbusd"} <= instructions, instructions
    assert not any(op.startswith("v") for op in instructions), ("no vector code in the tile loop", instructions)
