"""Guest speed: shoal against qemu-user and against Unicorn alone, on the same ELFs.

    python bench/guest_speed.py [--quick] [--runs N] [--out bench/results]

Writes OUT/guest_speed.json. For each program of bench/programs/guest/ (compiled once with
shoal's toolchain), at two sizes (long runs, 0.3-0.4 s under qemu-user, for the goals; short
runs, 0.02-0.13 s, where the fixed start-up weighs: `short` in the JSON), medians of N fresh
runs of:
  qemu       `qemu-riscv32 ELF ARGS`, whole command, host wall time
  shoal      `python -m shoal run ELF ARGS`, whole command (start-up included), in the caller's
             environment as it is, after one untimed run (which compiles shoal's modules into
             __pycache__, or into shoal's own cache under PYTHONDONTWRITEBYTECODE; without any
             bytecode every start compiles them again: `startup` below says how much)
  nocache    the same with `--no-caches` (mppa256 simulates its L1 caches by default: the
             difference is what the cache model costs the host)
  chip_run   `Chip.run` alone (shoal's own figure: the program's run, no start-up; no cache
             model, like `bare`)
  bare       the same ELF on Unicorn alone in this repository's build (the patched library,
             no budget, no block hook): a minimal loader and the few system calls musl needs,
             a virtual TLB with exact page rights filled by the same native Sv32 walk as
             shoal's (no Python per miss). Timed around emu_start only.
Ratios are taken within one run, geometric means over the programs. `startup`: medians of N
of `python -S -c pass` (the interpreter alone), `python -c pass` (and its site: the .pth hooks
of the environment), `python -c "import shoal.cli"` (every module a run imports; ended by
os._exit, without the teardown), and of
`shoal run` of the shortest program with and without shoal's bytecode (the latter from a fresh
copy of the package, compiling it): the differences say where a run's fixed cost goes.
Plus the 16-cluster x 16-thread busy chip of bench/run.py as aggregate guest MIPS. Host wall times
throughout, and for the whole commands (qemu, shoal, nocache) their CPU time too (user + system,
`*_cpu` ratios): on a shared host other work stretches wall times, much less CPU times. Nothing
here is simulated time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import struct
import sys
import time
from pathlib import Path

from run import log, machine_info, median, shoal_revision, timed_run

HERE = Path(__file__).resolve().parent
GUEST = HERE / "programs" / "guest"
BUSY_C = HERE / "programs" / "busy.c"
# name -> argv after the program: (long, short, quick). Long runs (the goals' figures) give
# qemu-user 0.3-0.4 s each, so that a ratio says how fast the guest runs; short ones 0.02-0.13 s
# (this host, 2026-12), where shoal's fixed start-up (~0.09 s, `startup` below) weighs as much
# as the run: both are reported. (The sizes were set for 0.3-0.7 s on the host of 2026-11 and
# became short runs as qemu-user got 2-3x faster here.)
PROGRAMS = {"crc": (["450"], ["100"], ["5"]), "qsort": (["35"], ["10"], ["1"]),
            "nbody": (["350000"], ["100000"], ["5000"]), "matmul": (["330"], ["200"], ["40"]),
            "hash": (["40000", "120"], ["40000"], ["4000"])}
# shoal/qemu with the cache model on (issue 21) and without it; the model's own cost apart
GOALS = {"shoal_over_qemu_max": 2.0, "nocache_over_qemu_max": 1.6, "chip_run_over_bare_max": 1.1,
         "busy_mips_min": 400.0}


def compile_all() -> dict[str, Path]:
    from shoal.toolchain import compile_cached
    return {n: compile_cached([GUEST / f"{n}.c"], ["-O2", "-g0"]) for n in PROGRAMS}


# --- bare Unicorn: a minimal static-ELF runner -----------------------------------------------
def bare(elf: Path, argv: list[str]) -> dict:
    """Run a static RV32 musl ELF on Unicorn alone; (stdout, instructions unknown, wall)."""
    from elftools.elf.elffile import ELFFile

    from shoal.platform import unicorn_build
    unicorn_build.install()
    from unicorn import (
        UC_ARCH_RISCV,
        UC_HOOK_INTR,
        UC_HOOK_TLB_FILL,
        UC_MODE_RISCV32,
        UC_PROT_ALL,
        UC_PROT_EXEC,
        UC_PROT_READ,
        UC_PROT_WRITE,
        UC_TLB_VIRTUAL,
        Uc,
        UcError,
    )
    from unicorn import riscv_const as rv
    from unicorn.unicorn_py3 import unicorn as binding

    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
    uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
    # Physical memory is one host buffer; the guest's pages get Sv32 page tables in it with
    # exact rights (A and D preset), and the TLB is filled by the same native walk shoal uses
    # (no Python per TLB miss), so both pay the same for translation.
    import ctypes
    import mmap

    from shoal.platform.native import NativeCounter, _load_native
    phys, phys_size = 0x8000_0000, 256 << 20
    mem = mmap.mmap(-1, phys_size)
    cbuf = (ctypes.c_char * phys_size).from_buffer(mem)
    uc.mem_map_ptr(phys, phys_size, UC_PROT_ALL, ctypes.addressof(cbuf))
    pages: dict[int, list[int]] = {}  # virtual page -> [physical offset, rights]
    nxt = [0x1000]  # frame 0 is the root table

    def pte_slot(pg: int) -> int:
        l1 = (pg >> 10) * 4
        pde = struct.unpack_from("<I", mem, l1)[0]
        if not pde & 1:
            t = nxt[0]
            nxt[0] += 0x1000
            pde = (((phys + t) >> 12) << 10) | 1
            struct.pack_into("<I", mem, l1, pde)
        return (((pde >> 10) << 12) - phys) + (pg & 0x3FF) * 4

    def region(lo: int, hi: int, prot: int) -> None:
        lo, hi = lo & ~0xFFF, (hi + 0xFFF) & ~0xFFF
        for pg in range(lo >> 12, hi >> 12):
            if pg not in pages:
                pages[pg] = [nxt[0], 0]
                nxt[0] += 0x1000
            pages[pg][1] |= prot
            off, pr = pages[pg]
            bits = ((2 if pr & UC_PROT_READ else 0) | (4 if pr & UC_PROT_WRITE else 0)
                    | (8 if pr & UC_PROT_EXEC else 0))
            struct.pack_into("<I", mem, pte_slot(pg), (((phys + off) >> 12) << 10) | bits | 1 | 16 | 64 | 128)

    def write(va: int, data: bytes) -> None:
        off = 0
        while off < len(data):
            pg = (va + off) >> 12
            k = min(len(data) - off, 0x1000 - ((va + off) & 0xFFF))
            o = pages[pg][0] + ((va + off) & 0xFFF)
            mem[o:o + k] = data[off:off + k]
            off += k

    def read(va: int, n: int) -> bytes:
        out = bytearray()
        while n > 0:
            k = min(n, 0x1000 - (va & 0xFFF))
            o = pages[va >> 12][0] + (va & 0xFFF)
            out += mem[o:o + k]
            va, n = va + k, n - k
        return bytes(out)

    f = ELFFile(open(elf, "rb"))
    top = 0
    for s in f.iter_segments():
        if s["p_type"] != "PT_LOAD":
            continue
        fl = s["p_flags"]
        prot = ((UC_PROT_READ if fl & 4 else 0) | (UC_PROT_WRITE if fl & 2 else 0)
                | (UC_PROT_EXEC if fl & 1 else 0))
        region(s["p_vaddr"], s["p_vaddr"] + s["p_memsz"], prot)
        write(s["p_vaddr"], s.data())
        top = max(top, s["p_vaddr"] + s["p_memsz"])
    brk = [(top + 0xFFF) & ~0xFFF]
    mm = [0x4000_0000]
    stack_top = 0x7FFF_0000
    region(stack_top - (1 << 20), stack_top, UC_PROT_READ | UC_PROT_WRITE)
    # argv strings, then argc/argv/envp/auxv (AT_PAGESZ) on the stack
    sp = stack_top - 4096
    ptrs = []
    for a in argv:
        b = a.encode() + b"\0"
        sp -= len(b)
        write(sp, b)
        ptrs.append(sp)
    sp &= ~15
    words = [len(argv), *ptrs, 0, 0, 6, 4096, 0, 0]
    sp -= 4 * len(words)
    sp &= ~15
    write(sp, struct.pack(f"<{len(words)}I", *words))
    uc.reg_write(rv.UC_RISCV_REG_SP, sp)
    uc.reg_write(rv.UC_RISCV_REG_MSTATUS, 3 << 13)
    uc.reg_write(rv.UC_RISCV_REG_PRIV, 0)
    out = bytearray()
    done: list[int] = []

    def trap(uc: Uc, cause: int, _ud: object) -> None:
        if cause != 8:
            done.append(128 + 4)
            uc.emu_stop()
            return
        a = [uc.reg_read(rv.UC_RISCV_REG_A0 + i) for i in range(8)]
        nr, ret = a[7], 0
        if nr == 64:  # write
            out.extend(read(a[1], a[2]))
            ret = a[2]
        elif nr == 66:  # writev
            for i in range(a[2]):
                base, n = struct.unpack("<II", read(a[1] + 8 * i, 8))
                out.extend(read(base, n))
                ret += n
        elif nr in (93, 94):  # exit, exit_group
            done.append(a[0])
            uc.emu_stop()
        elif nr == 214:  # brk
            if a[0] > brk[0]:
                region(brk[0], a[0], UC_PROT_READ | UC_PROT_WRITE)
                brk[0] = (a[0] + 0xFFF) & ~0xFFF
            ret = brk[0] if a[0] == 0 or a[0] > brk[0] else a[0]
        elif nr == 222:  # mmap2 (anonymous only)
            ret = mm[0]
            region(mm[0], mm[0] + a[1], UC_PROT_READ | UC_PROT_WRITE)
            mm[0] += (a[1] + 0xFFF) & ~0xFFF
        elif nr in (96,):  # set_tid_address
            ret = 1
        elif nr in (215, 226, 135, 233):  # munmap, mprotect, rt_sigprocmask, madvise
            ret = 0
        else:
            ret = -38 & 0xFFFFFFFF
        uc.reg_write(rv.UC_RISCV_REG_A0, ret & 0xFFFFFFFF)

    lib = _load_native()
    walk = NativeCounter(mem=ctypes.addressof(cbuf), mem_size=phys_size, phys_base=phys, root=0)
    hh = binding.uc_hook_h()
    binding.uclib.uc_hook_add(uc._uch, ctypes.byref(hh), UC_HOOK_TLB_FILL,
                              ctypes.cast(lib.shoal_tlb_fill, ctypes.c_void_p),
                              ctypes.cast(ctypes.byref(walk), ctypes.c_void_p),
                              ctypes.c_uint64(1), ctypes.c_uint64(0))
    uc.hook_add(UC_HOOK_INTR, trap)
    pc = f.header["e_entry"]
    t0 = time.perf_counter()
    while not done:
        try:
            uc.emu_start(pc, 0xFFFF_FFF0)
        except UcError:
            if not done:  # (a stop from the trap hook also ends emu_start with an error)
                raise
        pc = uc.reg_read(rv.UC_RISCV_REG_PC)
    wall = time.perf_counter() - t0
    return {"stdout": out.decode(errors="replace"), "returncode": done[0], "run_wall_s": wall}


def chip_run(elf: Path, argv: list[str]) -> dict:
    import dataclasses

    from shoal import Chip
    from shoal.spec import ChipSpec
    # Like for like with `bare` (which models no cache): the engine's own overhead.
    chip = Chip(dataclasses.replace(ChipSpec.preset("mppa256"), caches=False))
    p = chip.spawn(elf, argv)
    chip.run()
    return {"stdout": p.stdout.decode(errors="replace"), "returncode": p.returncode,
            "run_wall_s": chip.wall_seconds, "guest_instructions": p.instructions,
            "cpu": chip.cpu_engine}


def busy(elf: Path, iters: str) -> dict:
    from shoal import Chip
    chip = Chip.preset("mppa256")
    procs = [chip.spawn(elf, ["busy", iters, "16"], cluster=c) for c in range(16)]
    chip.run()
    ok = all(p.returncode == 0 for p in procs)
    return {"ok": ok, "run_wall_s": chip.wall_seconds, "guest_instructions": chip.instructions,
            "mips": chip.instructions / chip.wall_seconds / 1e6}


def busy_figure(elf: Path, iters: str, runs: int, qemu: str) -> dict:
    """16 clusters x 16 threads of busy.c on mppa256 (a fresh process per sample: Chip.run
    only), against the same work on qemu-user: the 16 processes one after another, pinned to
    one host core when `taskset` exists (qemu-user runs a guest's threads as host threads)."""
    bs = [worker("busy", str(elf), iters) for _ in range(runs)]
    pin = ["taskset", "-c", str(min(os.sched_getaffinity(0)))] if shutil.which("taskset") else []
    qs, outs = [], set()
    for _ in range(runs):
        total = 0.0
        for _ in range(16):
            r = timed_run([*pin, qemu, str(elf), iters, "16"])
            total += r["wall_s"]
            outs.add(r["stdout"])
        qs.append(total)
    instr = bs[0]["guest_instructions"]
    return {"argv": ["busy", iters, "16"], "guest_mips_median": median([b["mips"] for b in bs]),
            "samples": bs, "all_ok": all(b["ok"] for b in bs),
            "qemu_16_processes_wall_s": qs, "qemu_pinned": bool(pin),
            "qemu_mips_median": instr / median(qs) / 1e6,
            "qemu_mips_note": "shoal's instruction count of the 16 processes over qemu's wall time "
                              "(whole commands, start-up included)",
            "qemu_same_output": len(outs) == 1}


def worker(kind: str, *args: str) -> dict:
    r = timed_run([sys.executable, str(Path(__file__).resolve()), "--worker", kind, *args])
    if r["returncode"] != 0:
        sys.stderr.write(r["stderr"].decode(errors="replace"))
        raise SystemExit(f"bench: worker {kind} failed with status {r['returncode']}")
    return json.loads(r["stdout"].decode().strip().splitlines()[-1])


def shoal_env() -> dict[str, str]:
    """The environment of the timed `shoal run`: the caller's, as a user's command would see it
    (shoal compiles its modules once either way: shoal/_bytecode.py)."""
    return dict(os.environ)


def startup(runs: int, name: str, elf: Path, args: list[str]) -> dict:
    """Start-up alone: the interpreter, and a whole `shoal run` of a short program with and
    without shoal's bytecode (a fresh copy of the package in a temporary directory)."""
    import tempfile

    import shoal
    bare = [timed_run([sys.executable, "-S", "-c", "pass"])["wall_s"] for _ in range(runs)]
    floor = [timed_run([sys.executable, "-c", "pass"])["wall_s"] for _ in range(runs)]
    # (ended by os._exit: Python's teardown of what was imported would be counted otherwise)
    imp = [sys.executable, "-c", "import os, shoal.cli; os._exit(0)"]
    imports = [timed_run(imp, env=shoal_env())["wall_s"] for _ in range(runs)]
    cmd = [sys.executable, "-m", "shoal", "run", str(elf), *args]
    warm = [timed_run(cmd, env=shoal_env())["wall_s"] for _ in range(runs)]
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(Path(shoal.__file__).parent, Path(tmp) / "shoal",
                        ignore=shutil.ignore_patterns("__pycache__"))
        cold = []
        for i in range(runs):      # an empty bytecode cache each time: every module compiled
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "SHOAL_PYCACHE": f"{tmp}/pyc{i}",
                   "PYTHONPATH": os.pathsep.join([tmp, os.environ.get("PYTHONPATH", "")])}
            cold.append(timed_run(cmd, env=env, cwd=tmp)["wall_s"])
    return {"argv": [name, *args], "python_no_site_s": median(bare), "python_c_pass_s": median(floor),
            "import_shoal_cli_s": median(imports),
            "shoal_run_bytecode_s": median(warm), "shoal_run_no_bytecode_s": median(cold)}


def measure(elfs: dict[str, Path], sizes: dict[str, list[str]], runs: int, qemu: str) -> dict:
    """Each program at its size: the whole commands and Chip.run/bare Unicorn, medians."""
    rows = {}
    cpu = ""
    for name, args in sizes.items():
        elf = elfs[name]
        argv = [name, *args]
        s: dict[str, list[float]] = {"qemu": [], "shoal": [], "nocache": [], "chip_run": [], "bare": []}
        cpu_s: dict[str, list[float]] = {"qemu": [], "shoal": [], "nocache": []}  # (user + system)
        outs = set()
        instr = None
        for _ in range(runs):
            q = timed_run([qemu, str(elf), *args])
            s["qemu"].append(q["wall_s"])
            cpu_s["qemu"].append(q["cpu_s"])
            outs.add(q["stdout"].decode(errors="replace"))
            c = timed_run([sys.executable, "-m", "shoal", "run", str(elf), *args], env=shoal_env())
            s["shoal"].append(c["wall_s"])
            cpu_s["shoal"].append(c["cpu_s"])
            outs.add(c["stdout"].decode(errors="replace"))
            c = timed_run([sys.executable, "-m", "shoal", "run", "--no-caches", str(elf), *args],
                          env=shoal_env())
            s["nocache"].append(c["wall_s"])
            cpu_s["nocache"].append(c["cpu_s"])
            outs.add(c["stdout"].decode(errors="replace"))
            r = worker("chip_run", str(elf), *argv)
            s["chip_run"].append(r["run_wall_s"])
            outs.add(r["stdout"])
            instr = r["guest_instructions"]
            cpu = r["cpu"]
            b = worker("bare", str(elf), *argv)
            s["bare"].append(b["run_wall_s"])
            outs.add(b["stdout"])
        med = {k: median(v) for k, v in s.items()}
        cmed = {k: median(v) for k, v in cpu_s.items()}
        rows[name] = {"argv": argv, "same_output_everywhere": len(outs) == 1, "guest_instructions": instr,
                      "median_wall_s": med, "samples_wall_s": s,
                      "median_cpu_s": cmed, "samples_cpu_s": cpu_s,
                      "shoal_over_qemu_cpu": cmed["shoal"] / cmed["qemu"],
                      "nocache_over_qemu_cpu": cmed["nocache"] / cmed["qemu"],
                      "shoal_over_qemu": med["shoal"] / med["qemu"],
                      "nocache_over_qemu": med["nocache"] / med["qemu"],
                      "caches_cost": med["shoal"] / med["nocache"],
                      "chip_run_over_qemu": med["chip_run"] / med["qemu"],
                      "chip_run_over_bare": med["chip_run"] / med["bare"],
                      "bare_over_qemu": med["bare"] / med["qemu"]}
        log(f"{name:7} {' '.join(args):>12} qemu {med['qemu']:.3f} s  shoal {med['shoal']:.3f} s  "
            f"(--no-caches {med['nocache']:.3f} s)  "
            f"Chip.run {med['chip_run']:.3f} s  "
            f"bare unicorn {med['bare']:.3f} s  shoal/qemu {rows[name]['shoal_over_qemu']:.2f} "
            f"(CPU time {rows[name]['shoal_over_qemu_cpu']:.2f})  "
            f"Chip.run/bare {rows[name]['chip_run_over_bare']:.2f}  same output: "
            f"{rows[name]['same_output_everywhere']}")
    g = {k: geomean([r[k] for r in rows.values()])
         for k in ("shoal_over_qemu", "nocache_over_qemu", "caches_cost", "chip_run_over_qemu",
                   "chip_run_over_bare", "bare_over_qemu", "shoal_over_qemu_cpu", "nocache_over_qemu_cpu")}
    return {"programs": rows, "geomean": g, "cpu": cpu}


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--worker", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.worker:
        kind, elf, *rest = a.worker
        fn = {"bare": bare, "chip_run": chip_run}.get(kind)
        res = busy(Path(elf), rest[0]) if kind == "busy" else fn(Path(elf), rest)  # type: ignore[misc]
        print(json.dumps(res))
        return 0
    runs = 1 if a.quick else a.runs
    qemu = shutil.which("qemu-riscv32")
    if qemu is None:
        raise SystemExit("bench: qemu-riscv32 is needed (apt-get install qemu-user)")
    elfs = compile_all()
    first = next(iter(PROGRAMS))
    timed_run([sys.executable, "-m", "shoal", "run", str(elfs[first]), *PROGRAMS[first][2]],
              env=shoal_env())  # untimed: compiles shoal's bytecode if it is not yet
    sets = {"long": {n: sz[1] if a.quick else sz[0] for n, sz in PROGRAMS.items()},
            "short": {n: sz[2] if a.quick else sz[1] for n, sz in PROGRAMS.items()}}
    res = {k: measure(elfs, v, runs, qemu) for k, v in sets.items()}
    rows, g, cpu = res["long"]["programs"], res["long"]["geomean"], res["long"]["cpu"]
    from shoal.toolchain import compile_cached
    busy_elf = compile_cached([BUSY_C], ["-O2", "-g0"])
    busy_sizes = {"short": "2000" if a.quick else "20000", "steady": "10000" if a.quick else "100000"}
    busy_res = {k: busy_figure(busy_elf, it, runs, qemu) for k, it in busy_sizes.items()}
    st = startup(max(runs, 5), "hash", elfs["hash"], ["1"])
    log(f"start-up: python -S -c pass {st['python_no_site_s']:.3f} s, python -c pass "
        f"{st['python_c_pass_s']:.3f} s, import shoal.cli {st['import_shoal_cli_s']:.3f} s, shoal run hash 1 "
        f"{st['shoal_run_bytecode_s']:.3f} s ({st['shoal_run_no_bytecode_s']:.3f} s without bytecode)")
    busy_mips = busy_res["steady"]["guest_mips_median"]
    log(f"geomean shoal/qemu {g['shoal_over_qemu']:.2f} (--no-caches {g['nocache_over_qemu']:.2f}, "
        f"caches cost x{g['caches_cost']:.2f})  Chip.run/qemu {g['chip_run_over_qemu']:.2f}  "
        f"Chip.run/bare {g['chip_run_over_bare']:.2f}  bare/qemu {g['bare_over_qemu']:.2f}  "
        f"16x16 busy {busy_mips:.0f} guest MIPS (short run {busy_res['short']['guest_mips_median']:.0f}; "
        f"qemu-user, 16 processes in turn: {busy_res['steady']['qemu_mips_median']:.0f})  ({cpu})")
    log(f"in CPU time (user + system, what a loaded host disturbs least): shoal/qemu "
        f"{g['shoal_over_qemu_cpu']:.2f} (--no-caches {g['nocache_over_qemu_cpu']:.2f})")
    gs = res["short"]["geomean"]
    log(f"short runs (qemu 0.02-0.13 s: start-up weighs): shoal/qemu {gs['shoal_over_qemu']:.2f} "
        f"(--no-caches {gs['nocache_over_qemu']:.2f}; CPU time {gs['shoal_over_qemu_cpu']:.2f}, "
        f"{gs['nocache_over_qemu_cpu']:.2f})")
    result = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(), "shoal_revision": shoal_revision(), "runs": runs, "quick": a.quick,
        "cpu": cpu, "programs": rows, "geomean": g, "short": res["short"], "startup": st,
        "busy_16x16": busy_res,
        "goals": {**GOALS, "met": {
            "shoal_over_qemu": g["shoal_over_qemu"] <= GOALS["shoal_over_qemu_max"],
            "nocache_over_qemu": g["nocache_over_qemu"] <= GOALS["nocache_over_qemu_max"],
            "chip_run_over_bare": g["chip_run_over_bare"] <= GOALS["chip_run_over_bare_max"],
            "busy_mips": busy_mips >= GOALS["busy_mips_min"]}},
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "guest_speed.json").write_text(json.dumps(result, indent=1))
    log(f"wrote {a.out / 'guest_speed.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
