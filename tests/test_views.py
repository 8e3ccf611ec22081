"""vfiolab.views: frames with hex strings, deterministic HTML, lanes data.

Expected values come from the real capture data/references/q35-1G-ivshmem-1G
(QEMU 7.2.22 + SeaBIOS 1.16.2 under KVM): its info_mtree_f.txt, info_pci.txt
and trace.log lines are quoted next to each check.
"""

import re

import pytest

from vfiolab.inputs import parse_trace
from vfiolab.records import Memslot, Section, TraceEvent
from vfiolab.real.reference import REFERENCES, load_reference
from vfiolab.views import (LanesData, bars_frame, events_frame, flatview_frame, html_table,
                           lanes_data, lanes_from_records, memslot_flag_names, memslot_frame,
                           styled)

CAP = REFERENCES / "q35-1G-ivshmem-1G"
HEX = re.compile(r"^0x[0-9a-f]+$")


@pytest.fixture(scope="module")
def ref():
    return load_reference(CAP)


@pytest.fixture(scope="module")
def trace_events():
    return parse_trace((CAP / "trace.log").read_text())


def test_flatview_frame_hex_and_capture_values(ref):
    df = flatview_frame(ref.sections)
    assert list(df.columns) == ["start", "end", "size", "kind", "name", "prio", "offset", "kvm"]
    assert len(df) == len(ref.sections)
    for col in ("start", "end", "size"):
        assert all(HEX.match(v) for v in df[col]), col
    # info_mtree_f.txt: "0000000100000000-000000013fffffff (prio 1, ram): m0 KVM"
    m0 = df[df["name"] == "m0"].iloc[0]
    assert (m0["start"], m0["end"], m0["size"]) == ("0x100000000", "0x13fffffff", "0x40000000")
    assert (m0["kind"], m0["prio"], bool(m0["kvm"])) == ("ram", 1, True)
    # "00000000febfe000-00000000febfe0ff (prio 1, i/o): ivshmem-mmio"
    mmio = df[df["name"] == "ivshmem-mmio"].iloc[0]
    assert (mmio["start"], mmio["end"], mmio["size"], mmio["kind"]) == \
        ("0xfebfe000", "0xfebfe0ff", "0x100", "i/o")
    assert not bool(mmio["kvm"])


def test_memslot_frame_names_flags_and_region(ref):
    df = memslot_frame(ref.memslots, ref.sections)
    assert list(df.columns) == ["slot", "guest_phys_addr", "memory_size", "userspace_addr",
                                "flags", "region"]
    for col in ("guest_phys_addr", "memory_size", "userspace_addr"):
        assert all(HEX.match(v) for v in df[col]), col
    # trace.log: "Slot#1 flags=0x2 gpa=0xfffc0000 size=0x40000 ua=0x7f564c400000"
    bios = df[df["guest_phys_addr"] == "0xfffc0000"].iloc[0]
    assert (bios["slot"], bios["memory_size"], bios["userspace_addr"], bios["flags"],
            bios["region"]) == (1, "0x40000", "0x7f564c400000", "READONLY", "pc.bios")
    # "Slot#2 flags=0x0 gpa=0x100000000 size=0x40000000 ua=0x7f5607e00000"
    m0 = df[df["guest_phys_addr"] == "0x100000000"].iloc[0]
    assert (m0["slot"], m0["memory_size"], m0["flags"], m0["region"]) == \
        (2, "0x40000000", "", "m0")
    # sorted by guest_phys_addr
    gpas = [int(v, 16) for v in df["guest_phys_addr"]]
    assert gpas == sorted(gpas)


def test_memslot_frame_as_id_column_only_when_needed():
    slots = [Memslot(0, 0, 0, 0x1000, 0x7f0000000000),
             Memslot(1, 0, 0, 0x1000, 0x7f0000001000, as_id=1)]
    df = memslot_frame(slots)
    assert "as_id" in df.columns and "region" not in df.columns
    assert "as_id" not in memslot_frame(slots[:1]).columns


@pytest.mark.parametrize("flags,text", [
    (0, ""), (Memslot.KVM_MEM_READONLY, "READONLY"),
    (Memslot.KVM_MEM_LOG_DIRTY_PAGES, "LOG_DIRTY_PAGES"),
    (3, "LOG_DIRTY_PAGES|READONLY"), (1 << 2, "0x4"),
])
def test_memslot_flag_names(flags, text):
    # Linux include/uapi/linux/kvm.h: KVM_MEM_LOG_DIRTY_PAGES (1 << 0), KVM_MEM_READONLY (1 << 1)
    assert memslot_flag_names(flags) == text


def test_bars_frame_from_info_pci(ref):
    df = bars_frame(ref.devices)
    # info_pci.txt: "BAR2: 64 bit prefetchable memory at 0x100000000 [0x13fffffff]." id "ivs0"
    b2 = df[(df["id"] == "ivs0") & (df["bar"] == 2)].iloc[0]
    assert (b2["bdf"], b2["type"], bool(b2["prefetch"]), b2["address"], b2["end"], b2["size"]) \
        == ("00:01.0", "mem64", True, "0x100000000", "0x13fffffff", "0x40000000")
    # "BAR4: I/O at 0x0700 [0x073f]." (ICH9 SMBus, 00:1f.3)
    smb = df[(df["bdf"] == "00:1f.3") & (df["bar"] == 4)].iloc[0]
    assert (smb["type"], smb["address"], smb["end"], smb["size"]) == \
        ("io", "0x700", "0x73f", "0x40")


def test_events_frame_from_real_trace(trace_events):
    df = events_frame(trace_events)
    assert len(df) == len(trace_events)
    first = df.iloc[0]
    # line 1: "kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x40000000 ua=0x7f55bfe00000"
    assert (first["op"], first["action"], first["slot"], first["addr"], first["size"],
            first["ua"]) == ("set_user_memory", "create", 0, "0x0", "0x40000000",
                             "0x7f55bfe00000")
    # line 4: "Slot#2 flags=0x0 gpa=0xfeda0000 size=0x0": a delete
    row = df.iloc[3]
    assert (row["action"], row["slot"], row["addr"], row["size"]) == \
        ("delete", 2, "0xfeda0000", "0x0")
    # line 24: "pci_update_mappings_add ivshmem-plain 00:01.0 2,0x100000000+0x40000000"
    adds = df[(df["op"] == "pci_update_mappings_add") & (df["bar"] == 2)]
    assert len(adds) == 1
    a = adds.iloc[0]
    assert (a["action"], a["dev"], a["bdf"], a["addr"], a["size"]) == \
        ("map", "ivshmem-plain", "00:01.0", "0x100000000", "0x40000000")
    # no config accesses in this trace: no config columns
    assert "offset" not in df.columns


def test_events_frame_model_dicts_delete_create_flags():
    evs = [
        {"op": "pci_update_mappings_del", "dev": "ivshmem-plain", "bdf": "00:01.0", "bar": 2,
         "addr": 0xf8000000, "size": 0x4000000},
        {"op": "set_user_memory", "as_id": 0, "slot": 2, "flags": 0, "gpa": 0xf8000000,
         "size": 0, "ua": 0x7f0040400000, "region": "m0"},
        {"op": "pci_update_mappings_add", "dev": "ivshmem-plain", "bdf": "00:01.0", "bar": 2,
         "addr": 0x800000000, "size": 0x4000000},
        {"op": "set_user_memory", "as_id": 0, "slot": 2, "flags": 0, "gpa": 0x800000000,
         "size": 0x4000000, "ua": 0x7f0040400000, "region": "m0"},
        # dirty logging switched on: the same slot re-issued with new flags
        {"op": "set_user_memory", "as_id": 0, "slot": 2, "flags": 1, "gpa": 0x800000000,
         "size": 0x4000000, "ua": 0x7f0040400000, "region": "m0"},
        {"op": "pci_cfg_write", "bdf": "00:01.0", "offset": 4, "size": 2, "value": 0x103},
    ]
    prior = [Memslot(2, 0, 0xf8000000, 0x4000000, 0x7f0040400000)]
    df = events_frame(evs, prior_memslots=prior)
    assert list(df["action"]) == ["unmap", "delete", "map", "create", "flags", "write"]
    assert list(df["addr"][:4]) == ["0xf8000000", "0xf8000000", "0x800000000", "0x800000000"]
    assert df.iloc[4]["flags"] == "LOG_DIRTY_PAGES"
    assert (df.iloc[5]["offset"], df.iloc[5]["width"], df.iloc[5]["value"]) == ("0x4", 2, "0x103")


def test_events_frame_cfg_trace_event():
    ev = TraceEvent("pci_cfg_write", {"dev": "ivshmem-plain", "bus": 0, "slot": 1, "func": 0,
                                      "offs": 0x18, "val": 0xc})
    df = events_frame([ev])
    assert (df.iloc[0]["bdf"], df.iloc[0]["offset"], df.iloc[0]["value"]) == \
        ("00:01.0", "0x18", "0xc")


def test_styled_is_deterministic(ref):
    df = memslot_frame(ref.memslots, ref.sections)
    a = styled(df, highlight_rows=[1]).to_html()
    b = styled(df.copy(), highlight_rows=[1]).to_html()
    assert a == b
    assert 'id="T_vfiolab-' in a
    assert "monospace" in a and "#fff3bf" in a
    assert styled(df, uuid="fixed").to_html().count("T_fixed") > 0
    # two tables with the same columns on one page get their own ids, so a
    # highlight in one does not colour the other
    other = styled(df.iloc[:2], highlight_rows=[0]).to_html()
    ids = lambda html: set(re.findall(r'id="(T_vfiolab-[0-9a-f]+)"', html))  # noqa: E731
    assert ids(a) and ids(other) and not ids(a) & ids(other)


def test_html_table_plain_and_escaped(ref):
    df = memslot_frame(ref.memslots, ref.sections)
    h = html_table(df, table_id="t1", caption="a <caption>", highlight_rows=[0])
    assert h == html_table(df, table_id="t1", caption="a <caption>", highlight_rows=[0])
    assert h.startswith('<table id="t1"') and "a &lt;caption&gt;" in h
    assert h.count("<tr") == len(df) + 1
    assert h.count("#fff3bf") == 1
    assert "0x7f564c400000" in h


def test_lanes_from_capture_records(ref):
    data = lanes_from_records(ref.sections, ref.memslots)
    assert isinstance(data, LanesData)
    gpa, hva = data.lane("gpa"), data.lane("hva")
    assert len(gpa.ranges) == len(ref.sections)
    assert [r.kind for r in gpa.ranges] == [s.kind for s in sorted(ref.sections,
                                                                   key=lambda s: s.start)]
    # one band per memslot, GPA -> HVA, same size on both sides
    assert len(data.bands) == len(ref.memslots)
    for b, m in zip(data.bands, sorted(ref.memslots, key=lambda m: m.guest_phys_addr)):
        assert (b.src, b.dst, b.src_start, b.dst_start, b.size) == \
            ("gpa", "hva", m.guest_phys_addr, m.userspace_addr, m.memory_size)
        assert b.label == f"slot {m.slot}"
    # the pc.bios slot is KVM_MEM_READONLY: its band is "rom"
    bios = [b for b in data.bands if b.src_start == 0xfffc0000][0]
    assert bios.kind == "rom"
    # the HVA lane, rebuilt from the memslots: every band lands inside a range
    for b in data.bands:
        assert any(r.start <= b.dst_start and b.dst_start + b.size <= r.end for r in hva.ranges)
    # m0's host range: ua=0x7f5607e00000 size=0x40000000 (trace line 25)
    assert any(r.start == 0x7f5607e00000 and r.size == 0x40000000 and r.name == "m0"
               for r in hva.ranges)


def test_lanes_labels_are_hex():
    s = Section(0xfebfe000, 0xfebfe0ff, 1, "i/o", "ivshmem-mmio")
    data = lanes_from_records([s], [])
    assert data.lane("gpa").ranges[0].label == "ivshmem-mmio  0xfebfe000-0xfebfe0ff  (0x100)"


def test_lanes_hpa_and_iova_lanes_ready():
    data = lanes_from_records([], [], [], lanes=("gpa", "hva", "hpa", "iova"))
    assert [ln.key for ln in data.lanes] == ["gpa", "hva", "hpa", "iova"]
    assert data.lane("iova").note and not data.lane("iova").ranges
    with pytest.raises(KeyError):
        lanes_from_records([], [], lanes=("gpa", "xyz"))


def test_lanes_data_of_a_prediction():
    from vfiolab.predict import predict
    p = predict(["-machine", "q35", "-m", "1G", "-nodefaults", "-object",
                 "memory-backend-ram,id=m0,size=64M", "-device",
                 "ivshmem-plain,memdev=m0,id=ivs0"], cpu_vendor="AuthenticAMD")
    data = lanes_data(p, highlight={"m0"})
    hva = data.lane("hva")
    # QEMU's host mappings are the HVA lane, one per RAM block
    assert [(r.start, r.size, r.name) for r in hva.ranges] == \
        sorted((m.vaddr, m.size, m.name) for m in p.vm.host.mappings)
    assert len(data.bands) == len(p.memslots())
    # ivshmem's 64 MiB RAM (memory-backend-ram size=64M) is highlighted on both lanes
    assert [r.size for r in data.lane("gpa").ranges if r.highlight] == [64 << 20]
    assert [r.size for r in hva.ranges if r.highlight] == [64 << 20]
    assert [b.size for b in data.bands if b.highlight] == [64 << 20]


def test_lanes_hpa_from_host_mappings():
    from vfiolab.model.host import HostMapping
    maps = [HostMapping(0x7f0000000000, 0x40000000, "pc.ram", "ram", 0x100000000),
            HostMapping(0x7f0040000000, 0x1000000, "vfio-bar", "pfnmap", 0xe0000000),
            HostMapping(0x7f0041000000, 0x40000, "pc.bios", "ram", None)]
    data = lanes_from_records([], [], maps, lanes=("gpa", "hva", "hpa"))
    hpa = data.lane("hpa")
    # only mappings with a known host-physical address; a device mmap is "ramd"
    assert [(r.start, r.size, r.kind) for r in hpa.ranges] == \
        [(0xe0000000, 0x1000000, "ramd"), (0x100000000, 0x40000000, "ram")]
    assert [(b.src, b.dst, b.src_start, b.dst_start) for b in data.bands] == \
        [("hva", "hpa", 0x7f0000000000, 0x100000000), ("hva", "hpa", 0x7f0040000000, 0xe0000000)]


def test_layering_views_without_matplotlib():
    # views -> plot -> widgets: the views layer is plain data + pandas
    import subprocess
    import sys
    code = ("import sys, vfiolab.views; "
            "bad = [m for m in ('matplotlib', 'ipywidgets') if m in sys.modules]; "
            "sys.exit(repr(bad) if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=str(REFERENCES.parent.parent))
    assert r.returncode == 0, r.stderr


def test_styled_escapes_cell_text():
    """Cell text, column names and the caption are text, not HTML: a cell
    holding ``<qemu:commandline>`` (libvirt's element name) shows as that
    text instead of vanishing into an unknown tag (issue 16)."""
    import pandas as pd

    from vfiolab import course
    df = pd.DataFrame({"element <x>": ["<qemu:commandline>", "a & b"], "n": [1, 2]})
    h = styled(df, caption="the <tag> caption").to_html()
    assert "&lt;qemu:commandline>" in h and "<qemu:commandline>" not in h
    assert "a &amp; b" in h
    assert "element &lt;x>" in h and "the &lt;tag> caption" in h
    shown = course.table(df)._repr_html_()
    assert "&lt;qemu:commandline>" in shown and "<qemu:commandline>" not in shown
