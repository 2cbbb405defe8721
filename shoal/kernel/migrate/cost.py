"""The timing model of a migration: what freezing, building, sending and rebuilding an
image cost the kernel cores (figures from ChipSpec), and how much of it streams alongside the
transfer. docs/parameters.md lists the figures.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shoal.kernel.image import Shape
    from shoal.kernel.kernel import Kernel
    from shoal.spec import ChipSpec


def freeze_cycles(spec: ChipSpec, threads: int) -> int:
    """Saving each thread's hart context."""
    return spec.costs.context_switch_cycles * threads


def build_cycles(spec: ChipSpec, shape: Shape) -> int:
    """Copying every byte of the image into it."""
    return math.ceil(spec.costs.copy_cycles_per_byte * shape.nbytes)


def rebuild_cycles(spec: ChipSpec, shape: Shape) -> int:
    """Copying each page and the metadata out of the image, installing each page-table entry
    (one per page, one per second-level table) and each thread's context."""
    copied = shape.meta_bytes + shape.carried * spec.cluster.page_size
    return (math.ceil(spec.costs.copy_cycles_per_byte * copied) + spec.costs.pte_install_cycles * shape.ptes
            + spec.costs.context_switch_cycles * shape.threads)


def chunk_wire(spec: ChipSpec) -> int:
    """One page-sized DMA operation of a bulk transfer alone on a link: setup and bytes."""
    size = spec.ikc.portal_chunk + spec.ikc.portal_header
    return spec.noc.noc_setup_cycles + -(-size // spec.noc.noc_link_bytes_per_cycle)


def overlap(spec: ChipSpec, nbytes: int, total: int, alone: int) -> int:
    """How much of a kernel core's `total` work on an image streams alongside its transfer.
    The image crosses the NoC in page-sized DMA operations (as Nanvix's portals move a page
    at a time); the source copies operation j + 1 while j is on the wire, the destination
    copies operation j out while j + 1 arrives. Only `alone` (the first operation's copy at the
    source; the last one's, the page-table roots and the contexts at the destination) cannot
    overlap, and a kernel core slower than the wire holds the stream back by the difference."""
    chunks = max(1, -(-nbytes // spec.ikc.portal_chunk))
    return max(0, min((chunks - 1) * chunk_wire(spec), total - alone))


def build_lead(spec: ChipSpec, shape: Shape) -> int:
    """Cycles of building the image before its first DMA operation may leave."""
    total = build_cycles(spec, shape)
    first = math.ceil(spec.costs.copy_cycles_per_byte * min(spec.ikc.portal_chunk, shape.nbytes))
    return total - overlap(spec, shape.nbytes, total, first)


def rebuild_tail(spec: ChipSpec, shape: Shape) -> int:
    """Cycles of rebuilding left once the image's last DMA operation has arrived."""
    total = rebuild_cycles(spec, shape)
    chunk, costs = spec.ikc.portal_chunk, spec.costs
    last_bytes = shape.nbytes - (max(1, -(-shape.nbytes // chunk)) - 1) * chunk
    last = (math.ceil(costs.copy_cycles_per_byte * last_bytes) + costs.pte_install_cycles * shape.tables
            + costs.context_switch_cycles * shape.threads)
    return total - overlap(spec, shape.nbytes, total, last)


def stream(k: Kernel, at: int, nbytes: int) -> int:
    """The kernel core copies `nbytes` of pages out to the NoC: when the first DMA operation
    may leave (the rest is copied while earlier ones are on the wire, as for the image)."""
    spec = k.spec
    total = math.ceil(spec.costs.copy_cycles_per_byte * nbytes)
    first = math.ceil(spec.costs.copy_cycles_per_byte * min(spec.ikc.portal_chunk, nbytes))
    lead = total - overlap(spec, nbytes, total, first)
    start = at + k.kernel_core(at, lead)
    k.kernel_core(start, total - lead)
    return start
