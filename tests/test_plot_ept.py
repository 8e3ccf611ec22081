"""vfiolab.plot.ept: the EPT tree, one walk through it, and the 2-D walk grid.

Where the expected values come from:

* entries per level: an EPT entry at level L either references a table of
  level L-1 or is a leaf (Intel SDM Vol. 3C "EPT Translation Mechanism"), so
  the entries of level L are the tables one level down plus the leaves of
  level L (plus, at level 1, KVM's MMIO SPTEs: Linux spte.c make_mmio_spte);
  the counts are compared with ``Mmu.stats()`` through that rule;
* which leaves a touch creates: Linux x86.c kvm_alloc_memslot_metadata (a
  huge frame must lie inside the memslot, base_gfn and userspace_addr
  congruent) and mmu.c host_pfn_mapping_level (2M with THP, 1G for a
  1G-aligned PFN map), worked by hand below; memory type UC for host MMIO
  (vmx.c vmx_get_mt_mask); memslot generation bumps making MMIO SPTEs stale
  (kvm_main.c kvm_swap_active_memslots, spte.h);
* the 2-D walk: (n+1)(m+1)-1 = 24 references for 4-level guest paging over
  4-level EPT (Bhargava et al., ASPLOS 2008), shorter walks for 2M EPT
  leaves; the order (the EPT walk of each guest table's GPA, then the guest
  entry) is the SDM's;
* the P100's BARs: data/devices/gpu-nvidia-tesla-p100/lspci-vvv.txt
  (BAR0 16M, BAR1 16G, BAR3 32M).
"""

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from vfiolab.model.ept import GuestPageTables, Mmu  # noqa: E402
from vfiolab.model.guest import find_bdf, move_bar  # noqa: E402
from vfiolab.plot import style  # noqa: E402
from vfiolab.plot.ept import (CLASS_COLORS, MAX_BOXES, draw_2d_walk, draw_ept_tree,  # noqa: E402
                              draw_ept_walk, ept_figure, ept_runs, walk_2d_figure)
from vfiolab.predict import predict  # noqa: E402

GPU = "0000:01:00.0"
MiB = 1 << 20


def gpu_vm():
    # debian13 (Linux 6.12): huge PFN maps of BAR mmaps (vfio_pci_mmap_huge_fault)
    # and zap="slot" (KVM_X86_QUIRK_SLOT_ZAP_ALL, 6.12+) exist there only
    p = predict(f"-M q35 -m 2G -nodefaults -device vfio-pci,host={GPU},id=gpu0".split(),
                host_devices={GPU: "data/devices/gpu-nvidia-tesla-p100"},
                cpu_vendor="AuthenticAMD", stack="debian13")
    return p.vm


def expected_counts(mmu):
    """Entries per level from Mmu.stats() by the SDM's rule (see the module
    docstring): tables one level down + leaves of the level (+ MMIO SPTEs)."""
    st = mmu.stats()
    t, leaves = st["tables"], st["leaves"]
    return {4: t["PDPT"], 3: t["PD"] + leaves["1G"], 2: t["PT"] + leaves["2M"],
            1: leaves["4K"] + st["mmio_sptes"]}


def new_ax(size=(17, 7)):
    fig = style.new_figure("lanes")
    fig.set_size_inches(*size)
    return fig, fig.add_axes((0.01, 0.09, 0.98, 0.88))


@pytest.fixture(scope="module")
def touched():
    """The P100 guest after: its first MiB read (4K leaves: slot 0 covers
    gfns 0-0xc2, so the 2M frame at 0 sticks out of it), 0x1000000-0x5000000
    read a 2M frame at a time (slot 8 covers 0x100000-0x7fffffff, base gfn
    0x100 and userspace_addr agree modulo 2M, THP: 32 2M leaves), one page
    of BAR1 (16G at a 1G-aligned GPA, PFN map 1G-aligned: a 1G UC leaf),
    every 2M frame of BAR3 (32M: 16 2M UC leaves) and the HPET (no slot: an
    MMIO SPTE)."""
    vm = gpu_vm()
    m = Mmu(vm, record=False, zap="slot")
    m.touch(np.arange(0, 0x100000, 0x1000))
    m.touch(np.arange(0x1000000, 0x5000000, 0x200000))
    dev = find_bdf(vm, "00:01.0")
    bar1, bar3 = dev.io_regions[1].addr, dev.io_regions[3].addr
    m.access(bar1 + 0x5000)
    m.touch(np.arange(bar3, bar3 + 32 * MiB, 2 * MiB))
    m.access(0xFED00000)
    return vm, m, bar1, bar3


def test_entries_per_level_match_stats(touched):
    vm, m, bar1, bar3 = touched
    fig, ax = new_ax()
    art = draw_ept_tree(ax, m)
    assert art.counts == expected_counts(m)
    for lv, runs in art.runs.items():
        assert len(art.boxes[lv]) == len(art.labels[lv]) == len(runs)
        assert sum(r.count for r in runs) == art.counts[lv]
    # one row title per level, naming the level's entries
    assert [t.get_text().split(":")[0] for t in art.row_titles] == \
        ["level 4", "level 3", "level 2", "level 1"]
    assert "PDPTEs" in art.row_titles[1].get_text()


def test_leaves_by_the_fault_path_rules(touched):
    vm, m, bar1, bar3 = touched
    runs = ept_runs(m)
    by = {(r.level, r.cls, r.start): r for rs in runs.values() for r in rs}
    # the first MiB: 256 contiguous 4K RAM leaves, one run
    assert by[(1, "ram", 0)].count == 256 and by[(1, "ram", 0)].text == "256 x 4K"
    # 64 MiB of RAM with THP: 32 2M leaves
    assert by[(2, "ram", 0x1000000)].count == 32
    assert by[(2, "ram", 0x1000000)].end == 0x5000000
    # BAR1: one 1G leaf, memory type UC (host MMIO) -> "ramd"
    assert by[(3, "ramd", bar1)].count == 1 and by[(3, "ramd", bar1)].span == 1 << 30
    # BAR3: 16 2M UC leaves
    assert by[(2, "ramd", bar3)].count == 16
    # HPET: an MMIO SPTE made in the current memslot generation
    assert by[(1, "mmio", 0xFED00000)].count == 1


def test_colours_labels_and_legend(touched):
    vm, m, bar1, bar3 = touched
    fig, ax = new_ax()
    art = draw_ept_tree(ax, m)
    for lv in art.runs:
        for r, box in zip(art.runs[lv], art.boxes[lv]):
            assert to_hex(box.get_facecolor()) == to_hex(CLASS_COLORS[r.cls])
            assert box.get_gid() == f"entry:{r.cls}"
    texts = [t.get_text() for lv in art.labels for t in art.labels[lv] if t is not None]
    assert "32 x 2M\n0x1000000" in texts
    assert any(t.startswith("16 x 2M") for t in texts)
    legend = [t.get_text() for t in art.legend.get_texts()]
    assert "MMIO SPTE (W|X, no R: exits)" in legend and "leaf: host MMIO, a BAR (UC)" in legend
    assert "4-level" in art.title.get_text()


def test_zap_leaves_ghosts_and_stale_mmio():
    """zap="slot" (KVM_X86_QUIRK_SLOT_ZAP_ALL disabled): moving BAR3 deletes
    its memslot, which zaps only its 16 2M leaves; tables stay; every memslot
    change advances the generation, so the HPET's MMIO SPTE goes stale."""
    vm = gpu_vm()
    m = Mmu(vm, record=False, zap="slot")
    bar3 = find_bdf(vm, "00:01.0").io_regions[3].addr
    m.touch(np.arange(bar3, bar3 + 32 * MiB, 2 * MiB))
    m.access(0xFED00000)
    move_bar(vm, "00:01.0", 3, 0x1000000000, how="clean")
    runs = ept_runs(m)
    zapped = [r for r in runs[2] if r.cls == "zapped"]
    assert [(r.start, r.count) for r in zapped] == [(bar3, 16)]
    assert [r.cls for r in runs[1]] == ["mmio-stale"]
    fig, ax = new_ax()
    art = draw_ept_tree(ax, m)
    assert art.counts == expected_counts(m)         # ghosts are not entries
    ghost = art.boxes[2][runs[2].index(zapped[0])]
    assert ghost.get_linestyle() == "--"
    # touching the new address maps leaves there; the ghost at the old address
    # (no memslot now) stays until a leaf covers it
    m.touch(np.arange(0x1000000000, 0x1000000000 + 32 * MiB, 2 * MiB))
    assert [r.start for r in ept_runs(m)[2] if r.cls == "zapped"] == [bar3]


def test_thousands_of_entries_stay_readable():
    vm = gpu_vm()
    vm.host.thp = False
    m = Mmu(vm, record=False)
    rng = np.random.default_rng(6)
    m.touch(rng.integers(0x100000, 0x7FF00000, 3000) & ~0xFFF)
    m.touch(np.arange(0x10000000, 0x10000000 + 4000 * 4096, 4096))
    assert m.stats()["leaves"]["4K"] > 6000
    fig, ax = new_ax()
    art = draw_ept_tree(ax, m)
    assert art.counts == expected_counts(m)
    assert all(len(b) <= MAX_BOXES for b in art.boxes.values())
    assert any(r.sparse for r in art.runs[1])
    # the 4000 contiguous pages stay one (non-sparse) run or inside one box
    assert sum(1 for r in art.runs[1] if r.contains(0x10000000) and r.contains(0x10FA0000 - 1)) == 1


def test_walk_through_a_2m_leaf(touched):
    vm, m, *_ = touched
    gpa = 0x1234567
    fig, ax = new_ax()
    art = draw_ept_tree(ax, m, highlight_gpa=gpa)
    w = art.walk
    # PML4E -> PDPTE -> PDE with bit 7: three entries read, a 2M page
    assert [lv for lv, _, _ in w.steps] == [4, 3, 2] and w.outcome == "leaf"
    assert len(w.markers) == 3
    # the HPA is the host's: QEMU's pointer for the guest page, through the host page table
    hpa = vm.host.translate(vm.ram.hva + gpa).hpa
    assert w.labels[2].get_text().endswith(f"2M page -> HPA {hex(hpa)}")
    assert w.labels[0].get_text().startswith("PML4E[0] = 0x")
    # index of the PDE: GPA bits 29:21
    assert w.labels[2].get_text().startswith(f"PDE[{(gpa >> 21) & 0x1FF}] = ")
    # the boxes walked through are outlined
    assert len(w.boxes) == 3
    assert all(to_hex(b.get_edgecolor()) == style.HIGHLIGHT[0] for b in w.boxes)


def test_walk_to_mmio_and_to_nothing(touched):
    vm, m, *_ = touched
    fig, ax = new_ax()
    tree = draw_ept_tree(ax, m)
    w = draw_ept_walk(ax, m, 0xFED00000, tree=tree)
    assert w.outcome == "mmio" and [lv for lv, _, _ in w.steps] == [4, 3, 2, 1]
    assert "EPT misconfiguration" in w.labels[3].get_text()
    fig, ax = new_ax()
    w = draw_ept_walk(ax, m, 0x90000000)            # untouched, no memslot
    assert w.outcome == "violation"
    assert w.markers[-1].get_marker() == "X"
    assert "EPT violation" in w.labels[len(w.steps) - 1].get_text()


# ---------------------------------------------------------------------------
# The 2-D walk
# ---------------------------------------------------------------------------

def cold_walk(thp: bool):
    vm = gpu_vm()
    vm.host.thp = thp
    m = Mmu(vm, record=False)
    pt = GuestPageTables(m, pool_gpa=0x1000000)
    gva = 0xFFFF888000201000
    pt.map(gva, 0x3000000)
    return m, m.walk_2d(gva, pt.cr3)


def test_2d_grid_has_24_numbered_cells_in_order():
    m, walk = cold_walk(thp=False)
    fig, ax = new_ax((11, 6.4))
    art = draw_2d_walk(ax, walk)
    assert [t.get_text() for t in art.numbers] == [str(i) for i in range(1, 25)]
    assert len(art.cells) == 24 and not art.empty
    # rows: guest PML4E, PDPTE, PDE, PTE, data; columns: EPT 4..1, then the guest entry
    assert art.rows == [4, 3, 2, 1, 0] and art.cols == [4, 3, 2, 1, "guest"]
    expect = [(g, lv) for g in (4, 3, 2, 1) for lv in (4, 3, 2, 1, "guest")]
    expect += [(0, lv) for lv in (4, 3, 2, 1)]
    assert list(art.cells) == expect
    # each number sits in its cell
    for (key, cell), num in zip(art.cells.items(), art.numbers):
        x, y = num.get_position()
        assert cell.get_x() <= x <= cell.get_x() + cell.get_width()
        assert cell.get_y() <= y <= cell.get_y() + cell.get_height()
    # the data cell names the final GPA and HPA
    hpa = m.host.translate(m.vm.ram.hva + 0x3000000).hpa
    assert f"GPA 0x3000000\n-> HPA {hex(hpa)}" in art.details[-1].get_text()
    assert art.title.get_text().startswith("2-D walk: 24 memory references (20 EPT + 4 guest")


def test_2d_grid_with_2m_ept_leaves_leaves_the_pte_column_empty():
    m, walk = cold_walk(thp=True)
    fig, ax = new_ax((11, 6.4))
    art = draw_2d_walk(ax, walk)
    # every EPT walk ends at a 2M PDE: 5 x 3 EPT + 4 guest = 19; the PTE column is unread
    assert len(art.numbers) == 19
    assert len(art.empty) == 5
    assert not any(lv == 1 for _, lv in art.cells)


def test_2d_grid_marks_a_guest_page_fault():
    vm = gpu_vm()
    m = Mmu(vm, record=False)
    pt = GuestPageTables(m, pool_gpa=0x1000000)
    walk = m.walk_2d(0x7F0000000000, pt.cr3)        # nothing mapped there in the guest
    assert walk.guest_fault == 0x7F0000000000
    fig, ax = new_ax((11, 6.4))
    art = draw_2d_walk(ax, walk)
    last = art.cells[list(art.cells)[-1]]
    assert list(art.cells)[-1] == (4, "guest")
    assert to_hex(last.get_edgecolor()) == style.HIGHLIGHT[0]
    assert "guest #PF" in art.details[-1].get_text()


def _sdm_order(guest_levels, ept_reads):
    """The references of a cold 2-D walk in the order the CPU makes them,
    by the SDM's rule (Vol. 3C "EPT Translation Mechanism": the GPA of each
    guest paging-structure entry is translated through EPT, root first,
    before the entry is read; then the final GPA is): (guest level, EPT
    level or "guest") for each guest level, then (0, EPT level) for the data.
    ``ept_reads`` is the EPT levels one translation reads (4..1 with 4K EPT
    leaves, 4..2 when the leaf is a 2M PDE, bit 7)."""
    order = []
    for g in guest_levels:
        order += [(g, lv) for lv in ept_reads] + [(g, "guest")]
    return order + [(0, lv) for lv in ept_reads]


def _guest_huge_walk():
    vm = gpu_vm()
    vm.host.thp = False
    m = Mmu(vm, record=False)
    pt = GuestPageTables(m, pool_gpa=0x1000000)
    pt.map(0x40000000, 0x200000, page_size=2 * MiB)     # a guest 2M page: the walk ends at the PDE
    return m, m.walk_2d(0x40012345, pt.cr3)


@pytest.mark.parametrize("case, make, expected", [
    # 4-level guest paging over 4-level EPT, 4K EPT leaves: 4 x (4 + 1) + 4 = 24 (SDM)
    ("4K EPT", lambda: cold_walk(thp=False), _sdm_order((4, 3, 2, 1), (4, 3, 2, 1))),
    # 2M EPT leaves (host THP): each EPT translation stops at the PDE, 5 x 3 + 4 = 19
    ("2M EPT", lambda: cold_walk(thp=True), _sdm_order((4, 3, 2, 1), (4, 3, 2))),
    # a guest 2M page (PDE with PS): no guest PTE row, 3 x (4 + 1) + 4 = 19
    ("guest 2M", _guest_huge_walk, _sdm_order((4, 3, 2), (4, 3, 2, 1))),
])
def test_2d_grid_numbers_and_arrows_follow_the_reference_order(case, make, expected):
    """Issue 16: the figure numbers every reference in the model's order and
    draws an arrow from each to the next, so the order can be followed."""
    if case == "4K EPT":
        assert len(expected) == (4 + 1) * (4 + 1) - 1 == 24
    m, walk = make()
    key = [(r["guest_level"], "guest" if r["ept_level"] is None else r["ept_level"])
           for r in walk]
    assert key == expected                        # the model makes the SDM's references
    fig, ax, art = walk_2d_figure(walk)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    # reference k's number is "k" and sits in the cell of the model's k-th reference
    assert [t.get_text() for t in art.numbers] == [str(r["ref"]) for r in walk] == \
        [str(k) for k in range(1, len(expected) + 1)]
    for k, t in zip(key, art.numbers):
        cell = art.cells[k]
        x, y = t.get_position()
        assert cell.get_x() < x < cell.get_x() + cell.get_width()
        assert cell.get_y() < y < cell.get_y() + cell.get_height()
    # every text of a cell (its number, what it reads, value, HPA) stays inside the cell
    for k, num, det in zip(key, art.numbers, art.details):
        box = art.cells[k].get_window_extent(renderer)
        for t in (num, det):
            bb = t.get_window_extent(renderer)
            assert box.x0 - 0.5 <= bb.x0 and bb.x1 <= box.x1 + 0.5, (k, t.get_text())
            assert box.y0 - 0.5 <= bb.y0 and bb.y1 <= box.y1 + 0.5, (k, t.get_text())

    def on_edge(pt, cell):
        x, y = pt
        x0, y0 = cell.get_x(), cell.get_y()
        x1, y1 = x0 + cell.get_width(), y0 + cell.get_height()
        inside = x0 - 1e-9 <= x <= x1 + 1e-9 and y0 - 1e-9 <= y <= y1 + 1e-9
        return inside and min(abs(x - x0), abs(x - x1), abs(y - y0), abs(y - y1)) < 1e-9

    def strictly_inside(pt, cell, eps=1e-6):
        x, y = pt
        return (cell.get_x() + eps < x < cell.get_x() + cell.get_width() - eps and
                cell.get_y() + eps < y < cell.get_y() + cell.get_height() - eps)

    # one arrow from each reference to the next, n - 1 in all
    assert len(art.arrows) == len(art.routes) == len(expected) - 1
    for i, (route, arrow) in enumerate(zip(art.routes, art.arrows)):
        assert on_edge(route[0], art.cells[key[i]]), (i + 1, route)
        assert on_edge(route[-1], art.cells[key[i + 1]]), (i + 2, route)
        assert np.allclose(arrow.get_path().vertices[0], route[0])
        # it runs in the gaps: no point of it inside a read cell (over its text)
        for (xa, ya), (xb, yb) in zip(route, route[1:]):
            for f in np.linspace(0.02, 0.98, 25):
                p = (xa + f * (xb - xa), ya + f * (yb - ya))
                assert not any(strictly_inside(p, c) for c in art.cells.values()), (i + 1, p)
    # after the last EPT read of the data's GPA, the access itself
    assert art.data_arrow is not None
    assert on_edge(art.data_arrow.get_path().vertices[0], art.cells[key[-1]])
    assert style.figure_problems(fig) == []


def test_2d_grid_of_a_stopped_walk_has_no_arrow_to_the_data():
    vm = gpu_vm()
    vm.host.thp = False                             # 4K EPT leaves: 4 EPT reads per GPA
    m = Mmu(vm, record=False)
    pt = GuestPageTables(m, pool_gpa=0x1000000)
    walk = m.walk_2d(0x7F0000000000, pt.cr3)        # guest #PF at the PML4E (reference 5)
    fig, ax, art = walk_2d_figure(walk)
    assert [t.get_text() for t in art.numbers] == ["1", "2", "3", "4", "5"]
    assert len(art.arrows) == 4 and art.data_arrow is None


def test_figures_are_deterministic(touched):
    vm, m, *_ = touched

    def png(make):
        fig, ax, art = make()
        buf = io.BytesIO()
        style.save(fig, buf, "png")
        return buf.getvalue()

    assert png(lambda: ept_figure(m, highlight_gpa=0x1234567)) == \
        png(lambda: ept_figure(m, highlight_gpa=0x1234567))
    _, walk = cold_walk(thp=False)
    assert png(lambda: walk_2d_figure(walk)) == png(lambda: walk_2d_figure(walk))
