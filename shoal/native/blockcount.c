/* shoal's instruction counter: a Unicorn block hook in native code.
 *
 * Unicorn's own counter (emu_start with a count) calls a helper before every instruction;
 * this hook runs once per translated block instead. It finds the block's bytes through the
 * running container's Sv32 page table (in cluster memory), counts its instructions by their
 * length bits (RVC: low bits != 11 means 2 bytes), and asks Unicorn to stop once the slice's
 * budget is spent. Unicorn honours a stop at the next block boundary, so the count is exact:
 * a slice ends after whole blocks, and an ecall always ends its block. */
#include <stdint.h>

typedef int (*stop_fn)(void *uc);

struct shoal_counter {
    uint64_t executed;   /* instructions counted in this slice */
    uint64_t budget;     /* ask to stop once executed >= budget */
    uint8_t *mem;        /* the cluster's physical memory */
    uint64_t mem_size;
    uint32_t phys_base;  /* guest physical address of mem[0] */
    uint32_t root;       /* byte offset in mem of the running container's root table */
    stop_fn stop;        /* uc_emu_stop */
    uint32_t stopping;
    uint32_t misses;     /* blocks whose bytes could not be found (counted by size / 4) */
    uint32_t last_va;    /* the last block counted: its address, size in bytes, and count, */
    uint32_t last_size;  /* so that a fault inside it can give back what did not run */
    uint64_t last_n;
};

static int64_t walk(const struct shoal_counter *c, uint32_t va) {
    uint64_t l1 = (uint64_t)c->root + ((va >> 22) & 0x3ff) * 4;
    if (l1 + 4 > c->mem_size) return -1;
    uint32_t e = *(const uint32_t *)(c->mem + l1);
    if (!(e & 1)) return -1;
    uint64_t tbl = ((uint64_t)(e >> 10) - (c->phys_base >> 12)) << 12;
    uint64_t l0 = tbl + ((va >> 12) & 0x3ff) * 4;
    if (l0 + 4 > c->mem_size) return -1;
    uint32_t pte = *(const uint32_t *)(c->mem + l0);
    if (!(pte & 1)) return -1;
    uint64_t frame = ((uint64_t)(pte >> 10) - (c->phys_base >> 12)) << 12;
    if (frame + 4096 > c->mem_size) return -1;
    return (int64_t)(frame + (va & 0xfff));
}

/* Instructions in [va, end) (end: the first byte after the last one counted). */
static uint64_t count(struct shoal_counter *c, uint32_t va, uint32_t end) {
    uint64_t n = 0;
    while (va < end) {
        int64_t off = walk(c, va);
        if (off < 0) {
            c->misses++;
            n += (end - va + 3) / 4;
            break;
        }
        uint32_t page_end = (va | 0xfff) + 1;
        uint32_t stop = end < page_end ? end : page_end;
        while (va < stop) {
            /* The length bits are in the instruction's first byte (little-endian). */
            uint32_t len = (c->mem[off] & 3) == 3 ? 4 : 2;
            n++;
            va += len;
            off += len;
        }
    }
    return n;
}

void shoal_block_hook(void *uc, uint64_t address, uint32_t size, void *user) {
    struct shoal_counter *c = (struct shoal_counter *)user;
    uint32_t va = (uint32_t)address;
    uint64_t n = count(c, va, va + size);
    /* Unicorn reports a block that starts with an illegal instruction with size 0; it
     * still runs (traps on) one instruction, which the patched Unicorn counts. */
    if (n == 0) n = 1;
    /* A stop asked for here takes effect before this block runs; so a block that would
     * overrun the budget is left for the next slice (unless it is the slice's first). */
    if (c->executed > 0 && c->executed + n > c->budget) {
        if (!c->stopping) {
            c->stopping = 1;
            c->stop(uc);
        }
        return;
    }
    c->executed += n;
    c->last_va = va;
    c->last_size = size;
    c->last_n = n;
}

/* An exception at `pc` inside the block counted last: the instructions after it did not
 * run (as the patched Unicorn gives them back); the faulting one stays counted. Nothing if
 * `pc` is not inside that block (a fault on fetching a new block, which was never counted). */
void shoal_give_back(struct shoal_counter *c, uint32_t pc) {
    if (pc < c->last_va || pc - c->last_va >= c->last_size) return;
    uint64_t upto = count(c, c->last_va, pc + 1);
    if (upto < c->last_n) {
        c->executed -= c->last_n - upto;
        c->last_n = upto;
    }
}

/* The TLB fill for a page that is present (a Unicorn UC_HOOK_TLB_FILL callback, tried before
 * the kernel's Python one): the Sv32 walk in cluster memory, as AddressSpace.fill does it.
 * It sets A (and D on a store) in the PTE like hardware, and grants write only when D is set,
 * so the first store to a clean page comes back here and marks it dirty (the kernel's dirty
 * tracking relies on it). Anything else (not present, not permitted, a megapage, outside
 * user space) returns false: the kernel's own fill decides (demand paging, faults). */
#define PTE_V 1u
#define PTE_R 2u
#define PTE_W 4u
#define PTE_X 8u
#define PTE_U 16u
#define PTE_A 64u
#define PTE_D 128u
#define USER_TOP 0xC0000000u
#define UC_MEM_WRITE_ 17
#define UC_MEM_FETCH_ 18

struct tlb_entry { uint64_t paddr; uint32_t perms; };

int shoal_tlb_fill(void *uc, uint64_t vaddr, int type, struct tlb_entry *e, void *user) {
    struct shoal_counter *c = (struct shoal_counter *)user;
    uint32_t va = (uint32_t)vaddr;
    (void)uc;
    if (va >= USER_TOP) return 0;
    uint64_t l1 = (uint64_t)c->root + ((va >> 22) & 0x3ff) * 4;
    if (l1 + 4 > c->mem_size) return 0;
    uint32_t pde = *(const uint32_t *)(c->mem + l1);
    if ((pde & PTE_V) == 0 || (pde & (PTE_R | PTE_W | PTE_X)) != 0) return 0;
    uint64_t l0 = (((uint64_t)(pde >> 10) - (c->phys_base >> 12)) << 12) + ((va >> 12) & 0x3ff) * 4;
    if (l0 + 4 > c->mem_size) return 0;
    uint32_t *slot = (uint32_t *)(c->mem + l0);
    uint32_t pte = *slot;
    uint32_t need = type == UC_MEM_WRITE_ ? PTE_W : type == UC_MEM_FETCH_ ? PTE_X : PTE_R;
    if ((pte & PTE_V) == 0 || (pte & PTE_U) == 0 || (pte & need) == 0) return 0;
    uint64_t frame = ((uint64_t)(pte >> 10) - (c->phys_base >> 12)) << 12;
    if (frame + 4096 > c->mem_size) return 0;
    uint32_t now = pte | PTE_A | (need == PTE_W ? PTE_D : 0);
    if (now != pte) *slot = now;
    e->paddr = (uint64_t)c->phys_base + frame;
    e->perms = ((now & PTE_R) ? 1u : 0u) | ((now & PTE_X) ? 4u : 0u) |
               ((now & PTE_W) && (now & PTE_D) ? 2u : 0u);
    return 1;
}

/* One slice in one call from Python (platform/cpu.py ClusterCPU.run, patched library): load
 * the hart's saved state unless it is the loaded one, run from its pc, read the pc it stopped
 * at, save the state back. Through the Python binding these were five calls, ~7 us of the
 * engine's ~20 us of host time per slice. Unicorn's functions come as pointers (this file
 * links against nothing). */
typedef int (*ctx_fn)(void *uc, void *ctx);
typedef int (*reg_read_fn)(void *uc, int regid, void *value);
typedef int (*start_fn)(void *uc, uint64_t begin, uint64_t until, uint64_t timeout, uint64_t count);

struct shoal_slicer {
    void *uc;
    ctx_fn restore;      /* uc_context_restore */
    ctx_fn save;         /* uc_context_save */
    reg_read_fn reg_read;
    start_fn start;      /* uc_emu_start */
    uint64_t until;      /* the stop address */
    int32_t pc_reg;
    uint32_t pc;         /* out: where the slice stopped */
};

int shoal_slice(struct shoal_slicer *s, void *ctx, int load) {
    uint64_t pc = 0;
    int err;
    if (load && (err = s->restore(s->uc, ctx)) != 0) return err;
    if ((err = s->reg_read(s->uc, s->pc_reg, &pc)) != 0) return err;
    err = s->start(s->uc, (uint32_t)pc, s->until, 0, 0);
    pc = 0;
    s->reg_read(s->uc, s->pc_reg, &pc);
    s->pc = (uint32_t)pc;
    s->save(s->uc, ctx);
    return err;
}

/* The kernel core's caches (kernel/kmem.py, `_replay_data` there is the reference): a
 * set-associative cache as `tags[nsets * ways]`, each set most recent first, empty ways
 * (~0) last. Replays `n` accesses to line numbers `lines` (stores where `stores[i]`; NULL:
 * all loads) and adds loads, stores, load misses and store misses to `out`. LRU moves a hit
 * to the front; FIFO leaves it. A miss goes in front (the last way drops), except a store
 * without write-allocate, which leaves the set as it was. */
void shoal_kmem_replay(uint32_t *tags, uint32_t nsets, uint32_t ways, uint32_t lru, uint32_t alloc,
                       const uint32_t *lines, const uint8_t *stores, uint32_t n, uint64_t *out) {
    for (uint32_t k = 0; k < n; k++) {
        uint32_t ln = lines[k];
        int st = stores != 0 && stores[k];
        out[st] += 1;
        uint32_t *s = tags + (uint64_t)(ln % nsets) * ways;
        if (s[0] == ln) continue;
        uint32_t j = 1;
        while (j < ways && s[j] != ln) j++;
        if (j < ways) {  /* a hit further back */
            if (lru) {
                for (; j > 0; j--) s[j] = s[j - 1];
                s[0] = ln;
            }
            continue;
        }
        out[2 + st] += 1;
        if (st && !alloc) continue;
        for (j = ways - 1; j > 0; j--) s[j] = s[j - 1];
        s[0] = ln;
    }
}

/* One system call's replay in one call from Python: `a` holds, for the D-cache then the
 * I-cache, tags, nsets, ways, lru, alloc, lines, stores (0: all loads), n, out (set to the
 * counts of this replay alone). */
void shoal_kmem_serve(const uint64_t *a) {
    for (int c = 0; c < 2; c++, a += 9) {
        uint64_t *out = (uint64_t *)(uintptr_t)a[8];
        out[0] = out[1] = out[2] = out[3] = 0;
        shoal_kmem_replay((uint32_t *)(uintptr_t)a[0], (uint32_t)a[1], (uint32_t)a[2], (uint32_t)a[3],
                          (uint32_t)a[4], (const uint32_t *)(uintptr_t)a[5],
                          (const uint8_t *)(uintptr_t)a[6], (uint32_t)a[7], out);
    }
}

/* shoal_kmem_serve with the D-cache (the first cache of `a`) emptied before the replay if
 * bit 0 of `inval` is set, after it if bit 1 is (Nanvix's invalidations around IKC calls,
 * kernel/kmem.py): one call from Python on a system call's path instead of three. */
void shoal_kmem_serve_inval(const uint64_t *a, uint32_t inval) {
    uint32_t *tags = (uint32_t *)(uintptr_t)a[0];
    uint64_t n = a[1] * a[2];
    if (inval & 1)
        for (uint64_t i = 0; i < n; i++) tags[i] = ~0u;
    shoal_kmem_serve(a);
    if (inval & 2)
        for (uint64_t i = 0; i < n; i++) tags[i] = ~0u;
}

/* The trap hook (platform/cpu.py): on an ecall (cause 8) it reads a0-a7, the call's number
 * and arguments, into `vals` before it calls the kernel's Python hook, so that the kernel
 * need not ask Unicorn for them (one call into Unicorn from Python less per system call);
 * and if the hook left a result (`put`), it writes it to a0 once the hook has returned, and
 * stops the emulation if it asked to (`stop`): two more less. */
typedef int (*reg_batch_fn)(void *uc, int *regs, void **vals, int count);
typedef int (*reg_write_fn)(void *uc, int regid, const void *value);
typedef void (*intr_fn)(void *uc, uint32_t intno, void *user);
typedef int (*stop_fn)(void *uc);

struct shoal_trap {
    reg_batch_fn read_batch;  /* uc_reg_read_batch */
    intr_fn py;               /* the kernel's hook */
    int32_t ids[8];
    void *ptrs[8];
    uint64_t vals[8];
    int32_t status;           /* what read_batch returned */
    int32_t put;              /* set by the hook: write `ret` to a0 */
    reg_write_fn write;       /* uc_reg_write */
    uint64_t ret;
    int32_t stop;             /* set by the hook: end the emulation (uc_emu_stop) */
    int32_t pad;
    stop_fn emu_stop;         /* uc_emu_stop */
};

void shoal_trap_hook(void *uc, uint32_t intno, void *user) {
    struct shoal_trap *s = (struct shoal_trap *)user;
    if (intno == 8) s->status = s->read_batch(uc, s->ids, s->ptrs, 8);
    s->put = s->stop = 0;
    s->py(uc, intno, 0);
    if (s->put) {
        s->put = 0;
        s->write(uc, s->ids[0], &s->ret);
    }
    if (s->stop) {
        s->stop = 0;
        s->emu_stop(uc);
    }
}

/* A hart's L1 lines in and out of the live model (platform/cpu.py use_lines_of): the live
 * D and I tags go to `keep` (unless it is 0), then `mine` becomes the live ones. Words of
 * 8 bytes; nd and ni count them. */
void shoal_swap_lines(uint64_t *d, uint64_t *i, uint64_t *keep, const uint64_t *mine, uint32_t nd, uint32_t ni) {
    if (keep) {
        for (uint32_t k = 0; k < nd; k++) keep[k] = d[k];
        for (uint32_t k = 0; k < ni; k++) keep[nd + k] = i[k];
    }
    for (uint32_t k = 0; k < nd; k++) d[k] = mine[k];
    for (uint32_t k = 0; k < ni; k++) i[k] = mine[nd + k];
}

/* shoal_swap_lines with its six arguments in one block `a` (d, i, keep, mine, nd, ni), made
 * once per pair of harts (platform/l1.py): a call with one argument costs Python less. */
void shoal_swap_lines_at(const uint64_t *a) {
    shoal_swap_lines((uint64_t *)(uintptr_t)a[0], (uint64_t *)(uintptr_t)a[1], (uint64_t *)(uintptr_t)a[2],
                     (const uint64_t *)(uintptr_t)a[3], (uint32_t)a[4], (uint32_t)a[5]);
}
