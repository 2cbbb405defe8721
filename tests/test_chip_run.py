"""Chip.run as the host drives it: a run paused by `until()` (the GDB stub's pause) leaves the
chip's clock where it stopped, and a hook's exception is raised, not swallowed."""

from __future__ import annotations

import pytest
from conftest import Programs, run_native

from shoal import Chip


def test_a_paused_run_moves_the_clock_to_where_the_chip_stopped(programs: Programs) -> None:
    """Paused at "before" (20 ms in), the clock is between there and "after" (30 ms); a later
    run for 15 ms counts from the pause, so the program (10 ms from its end) ends in it."""
    b = programs["pause_clock"]
    c = Chip.preset("tiny")
    ms = c.spec.cluster.freq_hz // 1000
    p = c.spawn(b.elf, ["pause_clock"], cluster=1)
    c.run(until=lambda: b"before" in p.stdout)
    assert p.stdout == b"before\n" and not p.done
    paused = c.time
    assert 20 * ms <= paused < 30 * ms, paused
    c.run(max_cycles=15 * ms)
    assert p.done and p.returncode == 0 and p.stdout == b"before\nafter\n", p.message
    assert 30 * ms <= c.time <= paused + 15 * ms


def test_a_pause_never_moves_the_clock_back_nor_past_the_limit(programs: Programs) -> None:
    b = programs["pause_clock"]
    c = Chip.preset("tiny")
    ms = c.spec.cluster.freq_hz // 1000
    p = c.spawn(b.elf, ["pause_clock"], cluster=0)
    c.run(max_cycles=5 * ms)
    assert c.time == 5 * ms and not p.stdout
    c.run(until=lambda: True)  # paused before any round: the clock stays
    assert c.time == 5 * ms
    c.run(max_cycles=20 * ms, until=lambda: b"before" in p.stdout)
    assert p.stdout == b"before\n" and 20 * ms <= c.time <= 25 * ms
    c.run()
    assert p.stdout == b"before\nafter\n" and c.time >= 30 * ms


class KernelBug(Exception):
    pass


def _boom(*_args: object) -> None:
    raise KernelBug("a kernel bug in a TLB fill")


@pytest.mark.parametrize("native_slice", [True, False])
def test_a_hooks_exception_is_raised_when_the_emulation_also_fails(native_slice: bool) -> None:
    """The kernel's TLB fill raises: the fill fails too, so the emulation ends in error; the
    hook's exception (the cause) is raised, on the native slice loop and on emu_start's."""
    from shoal.platform.cpu import ClusterCPU
    c = ClusterCPU(1 << 20)
    c.on_fill, c.on_trap = _boom, lambda cause: None
    if not native_slice:
        c.count.slice = None  # the Python path (as on stock Unicorn)
    ctx = c.new_context()
    regs = c.get_regs(ctx)
    regs["pc"] = 0x10000
    c.set_regs(ctx, regs)
    with pytest.raises(KernelBug):
        c.run(ctx, 1000, 0)
    c.on_fill = lambda vaddr, access: None  # a plain failed fill: a guest fault, no exception
    _, _, err = c.run(ctx, 1000, 0)
    assert err is not None


def test_a_kernel_bug_in_a_fill_reaches_the_host_not_the_guest(programs: Programs,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Not shown as the guest's segfault: Chip.run raises the kernel's exception."""
    from shoal.kernel.kernel import Kernel
    monkeypatch.setattr(Kernel, "_fill", _boom)
    c = Chip.preset("tiny")
    p = c.spawn(programs["pause_clock"].elf, ["pause_clock"], cluster=0)
    with pytest.raises(KernelBug):
        c.run()
    assert p.returncode is None


@pytest.mark.parametrize("cluster", [0, 9])
def test_a_run_until_the_process_is_done_has_all_its_output(programs: Programs, cluster: int) -> None:
    """`run(until=lambda: p.done)` stopped as soon as the kernel had ended the process, before
    its last console packets reached the I/O cluster: 1,984 of 2,000 lines. Done now means the
    I/O cluster has its exit, which comes after its output on the same route."""
    b = programs["out_lines"]
    c = Chip.preset("mppa256")
    p = c.spawn(b.elf, ["out_lines"], cluster=cluster)
    c.run(until=lambda: p.done)
    assert p.done and p.returncode == 0
    assert p.stdout == run_native(b, ["out_lines"]).stdout
    assert c.time >= p.record.end_cycle
