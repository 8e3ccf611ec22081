"""The HPA and IOVA lanes, and vfiolab.plot.iommu's DMA view (and its widget).

Where the expected values come from:

* the P100's host BARs: data/devices/gpu-nvidia-tesla-p100/lspci-vvv.txt
  ("Region 0: Memory at 91000000", "Region 1: Memory at 3b800000000",
  "Region 3: Memory at 3bc00000000");
* IOVA = GPA: QEMU 7.2 hw/vfio/common.c vfio_listener_region_add maps each
  RAM, ROM and RAM-device section of "memory" at its guest-physical address
  (page-aligned sections here), and skips I/O sections;
* IOMMU page sizes: Linux drivers/iommu/intel/iommu.c hardware_largepage_caps
  / __domain_mapping -- each step the largest of 1G and 2M for which IOVA
  and HPA are aligned and enough bytes remain, RAM runs capped at the host
  page (2M with THP, vfio_iommu_type1.c vfio_pin_pages_remote contiguity),
  restated by :func:`pages_by_rule` below;
* DMA outcomes: VT-d spec 3.14 (the interrupt range is not translated), fault
  reasons 0x5 (write without W) and 0x6 (read without R / no entry); with a
  vIOMMU, QEMU's vfio_iommu_map_notify shadows guest pages that are RAM and
  refuses the rest ("iommu map to non memory area").
"""

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402

import pytest  # noqa: E402

from vfiolab.errors import VfiolabError  # noqa: E402
from vfiolab.model.guest import find_bdf, set_bus_master  # noqa: E402
from vfiolab.model.iommu import MSI_RANGE_START, iommu_for  # noqa: E402
from vfiolab.plot import style  # noqa: E402
from vfiolab.plot.iommu import (EXAMPLE_IOVAS, dma_view_data, dma_view_figure,  # noqa: E402
                                dma_view_figures, draw_dma_view)
from vfiolab.plot.lanes import lanes_figure  # noqa: E402
from vfiolab.predict import predict  # noqa: E402
from vfiolab.views import lanes_data, page_counts_text  # noqa: E402

ARGS = "-M q35 -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,id=gpu0".split()
HOST_DEVS = {"0000:01:00.0": "data/devices/gpu-nvidia-tesla-p100"}
P100_BAR = {0: 0x91000000, 1: 0x3B800000000, 3: 0x3BC00000000}
K4, M2, G1 = 1 << 12, 1 << 21, 1 << 30


def p100():
    """The P100 passed through, its driver having set Bus Master Enable
    (without it the device issues no DMA: tests/test_iommu.py)."""
    p = predict(ARGS, host_devices=HOST_DEVS, cpu_vendor="AuthenticAMD")
    set_bus_master(p.vm, find_bdf(p.vm, "00:01.0"))
    return p


def test_requests_before_bus_master_are_not_issued():
    p = predict(ARGS, host_devices=HOST_DEVS, cpu_vendor="AuthenticAMD")
    d = dma_view_data(p, requests=[(0x1000040, "write")])
    assert [h.op for h in d.hits] == ["dma_not_issued"]
    assert d.hits[0].label.endswith("not issued: Bus Master Enable is clear")


@pytest.fixture(scope="module")
def pred():
    return p100()


def pages_by_rule(iova, hpa, size, max_page):
    """hardware_largepage_caps as the VT-d driver applies it (module docstring)."""
    counts = {}
    while size:
        page = next(p for p in (G1, M2, K4)
                    if p <= max_page and (iova | hpa) % p == 0 and size >= p)
        counts[page] = counts.get(page, 0) + 1
        iova, hpa, size = iova + page, hpa + page, size - page
    return counts


# --- lanes with HPA and IOVA --------------------------------------------------------------------

def test_four_lanes_filled(pred):
    vm = pred.vm
    data = lanes_data(pred, lanes=("gpa", "hva", "hpa", "iova"))
    iova = data.lane("iova")
    # IOVA = GPA: one IOVA range per RAM/ROM/ramd section, at its GPA
    want = [(s.start, s.size) for s in pred.sections() if s.kind in ("ram", "rom", "ramd")]
    assert [(r.start, r.size) for r in iova.ranges] == want
    assert {r.kind for r in iova.ranges} == {"ram", "rom", "ramd"}
    assert "= GPA" in iova.title
    # HPA: the BARs where lspci saw them
    hpa = {r.name: r.start for r in data.lane("hpa").ranges}
    for bar, addr in P100_BAR.items():
        assert hpa[f"0000:01:00.0 BAR {bar} mmaps[0]"] == addr
    bands = {(b.src, b.dst): [] for b in data.bands}
    for b in data.bands:
        bands[(b.src, b.dst)].append(b)
    assert len(bands[("gpa", "hva")]) == len(pred.memslots())
    assert len(bands[("hva", "hpa")]) == sum(1 for m in vm.host.mappings if m.hpa is not None)
    iommu = bands[("iova", "hpa")]
    assert len(iommu) == len(vm.vfio.container.mappings()) == len(iova.ranges)
    # IOMMU page sizes per band, by the VT-d driver's rule
    for b in iommu:
        bar = b.kind == "ramd"
        cap = G1 if bar else (M2 if vm.host.thp else K4)
        assert b.label == page_counts_text(pages_by_rule(b.src_start, b.dst_start, b.size, cap))
    # BAR1: 16G at a 1G-aligned GPA onto 1G-aligned host MMIO: 16 1G pages
    by_iova = {b.src_start: b for b in iommu}
    bar1 = find_bdf(vm, "00:01.0").io_regions[1].addr
    assert by_iova[bar1].dst_start == P100_BAR[1] and by_iova[bar1].label == "16x1G"
    # drawn: one polygon per band, the legend says what bands are
    fig, ax, art = lanes_figure(data, band_legend="band: a translation")
    assert len(art.bands) == len(data.bands)
    assert "band: a translation" in [t.get_text() for t in art.legend.get_texts()]


def test_iova_lane_without_vfio_device():
    p = predict("-M q35 -m 512M -nodefaults -device edu,id=edu0".split(),
                cpu_vendor="AuthenticAMD")
    data = lanes_data(p, lanes=("gpa", "hva", "hpa", "iova"))
    assert not data.lane("iova").ranges and "no vfio-pci device" in data.lane("iova").note
    assert not [b for b in data.bands if b.src == "iova"]


# --- DMA view without a vIOMMU -------------------------------------------------------------------

@pytest.fixture(scope="module")
def plain():
    p = p100()
    return p, dma_view_data(p)


def test_dma_outcomes_without_viommu(plain):
    p, data = plain
    vm = p.vm
    hits = data.hits
    ram, bar, rom, hole, msi = hits
    # into guest RAM: the HPA behind QEMU's pointer for that guest page
    assert (ram.op, ram.target, ram.access) == ("dma", "ram", "write")
    assert ram.hpa == vm.host.translate(vm.ram.hva + ram.iova).hpa
    # peer to peer: BAR0's host MMIO (lspci) + the offset
    assert (bar.op, bar.target, bar.hpa) == ("dma", "bar", P100_BAR[0] + 0x1000)
    # a write to the BIOS ROM, mapped READ only: fault reason 0x5
    assert rom.fault and rom.fault_code == 0x5 and rom.access == "write"
    # just past the RAM below 4G nothing is mapped: fault reason 0x6
    assert hole.iova == 0x80000080 and hole.fault and hole.fault_code == 0x6
    # 0xfee00000: an interrupt request, not translated
    assert msi.iova == MSI_RANGE_START and msi.op == "interrupt_request"


def test_dma_view_draws_bands_hits_and_faults(plain):
    p, data = plain
    fig, ax, art = dma_view_figure(data)
    maps = p.vm.vfio.container.mappings()
    assert len(art.lanes.bands) == sum(len(d.chunks) for d in maps)
    assert [ln.key for ln in data.lanes.lanes] == ["iova", "hpa"]
    assert len(art.requests) == len(data.hits) == 5
    assert len(art.paths) == 2 and len(art.fault_markers) == 2
    assert sorted(m.get_gid() for m in art.markers) == \
        ["dma-fault", "dma-fault", "dma-hit:bar", "dma-hit:ram", "dma-msi"]
    # each fault cross sits on the IOVA lane at its address
    imap = art.lanes.maps["iova"]
    faults = [h for h in data.hits if h.fault]
    for mk, h in zip(art.fault_markers, faults):
        page = h.iova & ~0xFFF
        assert mk.get_ydata()[0] == pytest.approx((imap(page) + imap(page + 0x1000)) / 2)
        assert art.lanes.lane_x("iova") <= mk.get_xdata()[0] <= art.lanes.lane_x("iova") + 1
    texts = [t.get_text() for t in art.labels]
    assert any("fault 0x05: read-only mapping" in t for t in texts)
    assert any("fault 0x06: no mapping" in t for t in texts)
    assert any(t.startswith(f"HPA {hex(P100_BAR[0] + 0x1000)}") for t in texts)
    assert "vfio-pci 00:01.0" in art.device[1].get_text()


def test_dma_view_of_given_requests_and_errors(pred):
    fig = style.new_figure("lanes")
    ax = fig.add_axes((0, 0, 1, 1))
    art = draw_dma_view(ax, pred, [(0x2000, "read"), (1 << 48, "read")])
    assert [h.op for h in art.data.hits] == ["dma", "dma_fault"]
    assert "beyond" in art.data.hits[1].reason
    emu = predict("-M q35 -m 512M -nodefaults -device edu,id=edu0".split(),
                  cpu_vendor="AuthenticAMD")
    with pytest.raises(VfiolabError, match="no vfio-pci device"):
        dma_view_data(emu)


# --- with a vIOMMU -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shadowed():
    p = p100()
    return p, dma_view_data(p, viommu=True)


def test_viommu_layers(shadowed):
    p, data = shadowed
    vm = p.vm
    assert [ln.key for ln in data.lanes.lanes] == ["iova", "gpa", "hva", "hpa"]
    # the guest's mappings, one IOVA range each (EXAMPLE_IOVAS are not contiguous in GPA)
    iova = data.lanes.lane("iova")
    assert [(r.start, r.size) for r in iova.ranges] == sorted((i, s) for i, s, *_ in EXAMPLE_IOVAS)
    kinds = {r.start: r.kind for r in iova.ranges}
    # RAM buffers (one read-only for the device), the emulated MMIO page QEMU
    # cannot shadow, the BAR (peer to peer)
    assert [kinds[i] for i, *_ in EXAMPLE_IOVAS] == ["ram", "rom", "i/o", "ramd"]
    by = {}
    for b in data.lanes.bands:
        by.setdefault((b.src, b.dst), []).append(b)
    assert len(by[("iova", "gpa")]) == 4
    assert len(by[("gpa", "hva")]) == 3                    # the I/O page is not shadowed
    assert len(by[("hva", "hpa")]) == sum(1 for m in vm.host.mappings if m.hpa is not None)
    # QEMU's shadow: IOVA -> vaddr of the guest page (memory_get_xlat_addr)
    rx = next(b for b in by[("gpa", "hva")] if b.src_start == 0x1000000)
    assert rx.dst_start == vm.ram.hva + 0x1000000


def test_viommu_dma_outcomes_and_drawing(shadowed):
    p, data = shadowed
    vm = p.vm
    ops = [(h.iova, h.access, h.op, h.fault_code) for h in data.hits]
    assert ops == [(0xFFFFC010, "write", "dma", None), (0xFFFFB010, "read", "dma", None),
                   (0xFFFFB020, "write", "dma_fault", 0x5), (0xFFFFA010, "read", "dma_fault", 0x6),
                   (0xFFFF9010, "read", "dma", None), (0x1000010, "read", "dma_fault", 0x6)]
    rx = data.hits[0]
    assert rx.gpa == 0x1000010 and rx.hpa == vm.host.translate(vm.ram.hva + 0x1000010).hpa
    assert data.hits[4].hpa == P100_BAR[0] + 0x10 and data.hits[4].target == "bar"
    # four lanes do not fit the page: the guest's side (IOVA -> GPA, the DMA
    # requests) above the host's side (GPA -> HVA -> HPA, where each hit lands)
    fig, ax, art = dma_view_figure(data)
    assert [ln.key for ln in art.data.lanes.lanes] == ["iova", "gpa"]
    assert len(art.fault_markers) == 3 and len(art.paths) == 3
    assert all(pth.get_linestyle() == "-" for pth in art.paths)     # adjacent lanes
    # each hit is drawn to the GPA the guest's table gives it...
    assert any(t.get_text().startswith("GPA 0x1000010") for t in art.labels)
    # ...and, on the host's side, at its HPA
    assert len(art.host.markers) == 3
    assert any(f"HPA {hex(rx.hpa)}" in t.get_text() for t in art.host.labels)
    assert len(art.lanes.bands) + len(art.host.lanes.bands) == len(data.lanes.bands)
    assert art.full is data
    figs = dma_view_figures(data)
    assert len(figs) == 2 and all(style.figure_problems(f) == [] for f in figs)


# --- the widget ----------------------------------------------------------------------------------

def test_dma_view_widget_toggles_without_a_browser():
    from vfiolab.widgets import DmaView
    v = DmaView(p100(), mode="image")
    assert v.viommu is False and len(v.artists.data.lanes.lanes) == 2
    assert v.figure_widget.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert v.status.value.startswith("5 DMA requests: 2 reached memory, 2 faulted")
    faults = len(iommu_for(v.vm).faults)
    # the observer calls set_viommu
    v.toggle.value = True
    assert v.viommu is True and len(v.artists.full.lanes.lanes) == 4
    assert len(v.artists.fault_markers) == 3
    # back again: the first view's requests are not performed twice
    art = v.set_viommu(False)
    assert v.toggle.value is False and len(art.data.lanes.lanes) == 2
    assert len(iommu_for(v.vm).faults) == faults
    assert v.widget.children[0] is v.toggle


def test_dma_view_image_is_deterministic(plain):
    p, data = plain

    def png():
        fig, ax, art = dma_view_figure(data)
        buf = io.BytesIO()
        style.save(fig, buf, "png")
        return buf.getvalue()

    assert png() == png()
