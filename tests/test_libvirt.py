"""libvirt domain XML -> the QEMU command line libvirt runs (vfiolab.inputs.libvirt).

Expected command lines come from libvirt itself, never from the reader:

* libvirt's own expected argv for its test domains (libvirt/libvirt
  ``tests/qemuxmlconfdata/<name>.x86_64-latest.{xml,args}``, commit
  20e13e3b / 6eaf3614 / 963febb5 as stored; the libvirt 11 spelling);
* a libvirt 9 command line of a running q35 + OVMF (secure boot) domain,
  from ``ps`` on a host with QEMU 7.2 (published in a public GitHub file, see
  ``data/configs/README.md``), and that domain's XML as ``virsh dumpxml``
  writes it (with and without the firmware libvirt fills in).

The generated command lines are then run through the real QEMU 7.2 here
(``-S``, ``info pci``, QMP ``quit``), without the passed-through GPU.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from vfiolab.cli import main
from vfiolab.errors import CommandLineError, ParseError, VfiolabError
from vfiolab.inputs.libvirt import libvirt_argv, read_libvirt_xml

DATA = Path(__file__).resolve().parents[1] / "data" / "configs" / "libvirt"
TESTS = DATA / "libvirt-tests"
QEMU = "/usr/bin/qemu-system-x86_64"


def _norm(argv: list[str]) -> list[str]:
    """File descriptor numbers are the running libvirtd's (or the test
    suite's placeholders): compare them as N."""
    out = []
    for a in argv:
        a = re.sub(r"fd=(\d+|@[a-z0-9-]+@)", "fd=N", a)
        a = re.sub(r'"(vhost)?fd":"\d+"', lambda m: f'"{m.group(1) or ""}fd":"N"', a)
        out.append(a)
    return out


def _drop(argv: list[str], option: str) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        if argv[i] == option:
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def _args_file(path: Path) -> list[str]:
    """libvirt's .args: environment lines, then the program and its arguments."""
    words = shlex.split(path.read_text().replace("\\\n", " "))
    return words[words.index(QEMU):]


# -- libvirt's own expected command lines ------------------------------------
@pytest.mark.parametrize("name", ["q35-virt-manager-basic", "pci-rom", "cpu-phys-bits-limit"])
def test_libvirt_test_suite_argv(name):
    """Everything libvirt writes for these domains, but -spice (a display: no
    PCI function, memory or DMA; not generated)."""
    got = read_libvirt_xml(str(TESTS / f"{name}.x86_64-latest.xml"), libvirt="11")
    want = _drop(_args_file(TESTS / f"{name}.x86_64-latest.args"), "-spice")
    assert _norm(got) == _norm(want)


@pytest.mark.parametrize("xml", ["androiduam.xml", "androiduam-firmware-auto.xml"])
def test_libvirt9_capture(xml):
    """A libvirt 9 (QEMU 7.2) command line, captured from ps: the same, but
    -spice.  The firmware-auto form has only <os firmware='efi'>: libvirt
    picks Debian 12's first matching descriptor (40-edk2-x86_64-secure-enrolled.json:
    OVMF_CODE_4M.ms.fd, secure boot, SMM) -- as the capture shows."""
    want = _drop(str((DATA / "androiduam-libvirt9.cmdline").read_text()).split(), "-spice")
    got = read_libvirt_xml(str(DATA / xml))
    assert _norm(got) == _norm(want)


def test_firmware_autoselect_without_secure_boot():
    """<firmware><feature enabled='no' name='secure-boot'/>: the plain build
    (60-edk2-x86_64.json: OVMF_CODE_4M.fd / OVMF_VARS_4M.fd), no SMM needed,
    no secure flash."""
    text = (DATA / "androiduam-firmware-auto.xml").read_text().replace(
        "<os firmware='efi'>",
        "<os firmware='efi'><firmware><feature enabled='no' name='secure-boot'/></firmware>"
    ).replace("<smm state='on'/>", "")
    argv = libvirt_argv(text)
    assert '"filename":"/usr/share/OVMF/OVMF_CODE_4M.fd"' in " ".join(argv)
    assert "driver=cfi.pflash01,property=secure,value=on" not in argv
    assert "smm=on" not in argv[argv.index("-machine") + 1]


# -- the GPU domain of the issue ---------------------------------------------
def _gpu_argv():
    return read_libvirt_xml(str(DATA / "q35-ovmf-gpu.xml"))


def test_gpu_domain_hostdevs():
    """The GPU and its HDMI audio on one root port: function 0 multifunction,
    function 1 at 0x0.0x1 (qemuBuildDeviceAddressProps), as in libvirt's
    hostdev argv (hostdev-vfio.x86_64-latest.args)."""
    argv = _gpu_argv()
    devs = [json.loads(argv[i + 1]) for i, a in enumerate(argv) if a == "-device"
            and argv[i + 1].startswith("{")]
    vfio = [d for d in devs if d["driver"] == "vfio-pci"]
    assert vfio == [
        {"driver": "vfio-pci", "host": "0000:01:00.0", "id": "hostdev0", "bus": "pci.5",
         "multifunction": True, "addr": "0x0"},
        {"driver": "vfio-pci", "host": "0000:01:00.1", "id": "hostdev1", "bus": "pci.5",
         "addr": "0x0.0x1"}]
    # qemuBuildCpuCommandLine: the model, the hypervclock timer, the Hyper-V
    # features in enum order, <maxphysaddr mode='passthrough'/> last
    assert argv[argv.index("-cpu") + 1] == \
        "host,migratable=on,hv-time=on,hv-relaxed=on,hv-vapic=on,hv-spinlocks=0x1fff," \
        "host-phys-bits=on"
    assert argv[argv.index("-m") + 1] == "8192"
    assert json.loads(argv[argv.index("-m") + 3]) == \
        {"qom-type": "memory-backend-ram", "id": "pc.ram", "size": 8 << 30}


def test_cli_format_argv(capsys):
    assert main(["predict", "--format", "argv", "--libvirt-xml",
                 str(DATA / "q35-ovmf-gpu.xml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("/usr/bin/qemu-system-x86_64 \\\n-name guest=win10-gpu,debug-threads=on")
    # the text is a shell command line: it splits back into the argv
    assert shlex.split(out.replace("\\\n", " ")) == _gpu_argv()


def test_cli_refuses_two_sources(capsys):
    assert main(["predict", "--libvirt-xml", str(DATA / "q35-ovmf-gpu.xml"),
                 "--", "-M", "q35"]) == 2
    assert "drop the QEMU arguments" in capsys.readouterr().err


# -- memory, CPU, qemu:commandline --------------------------------------------
def _domain(devices="", extra="", cpu="", os_extra="", machine="pc-q35-7.2"):
    return f"""<domain type='kvm' id='2' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>g</name><memory unit='GiB'>4</memory><vcpu>2</vcpu>
  <os><type arch='x86_64' machine='{machine}'>hvm</type>{os_extra}</os>
  <features><acpi/></features>{cpu}{extra}
  <devices><controller type='pci' index='0' model='pcie-root'/>{devices}</devices>
</domain>"""


def test_hugepages_backend():
    """<memoryBacking><hugepages/>: a file backend under the hugetlbfs mount,
    preallocated -- as the libvirt 7.3 log in a public report shows
    ("mem-path":"/dev/hugepages/libvirt/qemu/2-Steam-GeForce",
    "x-use-canonical-path-for-ramblock-id":false,"prealloc":true)."""
    argv = libvirt_argv(_domain(extra="<memoryBacking><hugepages/></memoryBacking>"))
    assert json.loads(argv[argv.index("-m") + 3]) == {
        "qom-type": "memory-backend-file", "id": "pc.ram",
        "mem-path": "/dev/hugepages/libvirt/qemu/2-g",
        "x-use-canonical-path-for-ramblock-id": False, "prealloc": True, "size": 4 << 30}


def test_memfd_shared_backend():
    """<source type='memfd'/><access mode='shared'/> (virtiofs, Looking
    Glass): memory-backend-memfd with share -- the form of a libvirt 9 log
    ({"qom-type":"memory-backend-memfd","id":"pc.ram","share":true,
    "x-use-canonical-path-for-ramblock-id":false,"size":8589934592})."""
    argv = libvirt_argv(_domain(extra="<memoryBacking><source type='memfd'/>"
                                      "<access mode='shared'/></memoryBacking>"))
    assert argv[argv.index("-m") + 3] == ('{"qom-type":"memory-backend-memfd","id":"pc.ram",'
                                          '"share":true,"x-use-canonical-path-for-ramblock-id"'
                                          ':false,"size":4294967296}')


def test_maxphysaddr_emulate():
    """mode='emulate' bits=N -> phys-bits=N after the model's features
    (libvirt's cpu-phys-bits-emulate2 argv ends '...,lahf-lm=on,phys-bits=42')."""
    argv = libvirt_argv(_domain(cpu="<cpu mode='custom'><model>Haswell</model>"
                                    "<feature policy='require' name='pdpe1gb'/>"
                                    "<maxphysaddr mode='emulate' bits='42'/></cpu>"))
    assert argv[argv.index("-cpu") + 1] == "Haswell,pdpe1gb=on,phys-bits=42"


def test_qemu_commandline_appended():
    """<qemu:commandline> arguments go last, verbatim (the X-PciMmio64Mb
    fw_cfg knob people give OVMF for big BARs)."""
    argv = libvirt_argv(_domain(extra="<qemu:commandline><qemu:arg value='-fw_cfg'/>"
                                      "<qemu:arg value='name=opt/ovmf/X-PciMmio64Mb,"
                                      "string=65536'/></qemu:commandline>"))
    assert argv[-2:] == ["-fw_cfg", "name=opt/ovmf/X-PciMmio64Mb,string=65536"]


def test_shmem_ivshmem():
    argv = libvirt_argv(_domain(devices="""<shmem name='looking-glass'>
      <model type='ivshmem-plain'/><size unit='M'>64</size>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x10' function='0x0'/></shmem>"""))
    i = argv.index("-object", argv.index("-m") + 4)
    assert json.loads(argv[i + 1]) == {"qom-type": "memory-backend-file", "id": "shmmem-shmem0",
                                       "mem-path": "/dev/shm/looking-glass", "size": 64 << 20,
                                       "share": True}
    assert json.loads(argv[i + 3]) == {"driver": "ivshmem-plain", "id": "shmem0",
                                       "memdev": "shmmem-shmem0", "bus": "pcie.0",
                                       "addr": "0x10"}


# -- refusals ----------------------------------------------------------------
@pytest.mark.parametrize("text, words", [
    ("<domain", "not well-formed XML"),
    ("<vm/>", "expected a <domain>"),
    (_domain().replace("type='kvm'", "type='xen'"), "'xen'"),
    (_domain(machine="virt"), "only pc and q35"),
    (_domain().replace("arch='x86_64'", "arch='aarch64'"), "only x86_64"),
    (_domain().replace(" machine='pc-q35-7.2'", ""), "virsh dumpxml"),
    (_domain(cpu="<cpu mode='host-model'/>"), "host-model"),
    (_domain(cpu="<cpu mode='host-passthrough'><maxphysaddr mode='emulate'/></cpu>"),
     "needs bits="),
    (_domain(devices="<interface type='network'><model type='virtio'/></interface>"),
     "qemuDomainAssignPCIAddresses"),
    (_domain(devices="<video><model type='cirrus'/><address type='pci' bus='0' slot='1'/>"
                     "</video>"), "type='cirrus'"),
    (_domain(devices="<hostdev mode='subsystem' type='usb'/>"), "only PCI subsystem"),
    (_domain(devices="<interface type='network'><model type='virtio'/>"
                     "<address type='pci' domain='0x0000' bus='0x03' slot='0x00'/></interface>"),
     "no <controller type='pci' index='3'>"),
    (_domain(devices="<interface type='network'><model type='virtio'/>"
                     "<address type='pci' domain='0x0001' bus='0x00' slot='0x03'/></interface>"),
     "PCI domain"),
    (_domain(devices="<controller type='pci' index='1' model='pcie-root-port'>"
                     "<address type='pci' bus='0' slot='2'/></controller>"), "<target chassis="),
    (_domain(extra="<memory unit='parsecs'>3</memory>").replace(
        "<memory unit='GiB'>4</memory>", ""), "unknown unit"),
])
def test_refused_with_reason(text, words):
    with pytest.raises(VfiolabError) as e:
        libvirt_argv(text, source="dom.xml")
    assert words in str(e.value)


def test_host_model_refused_libvirt_test():
    """libvirt's cpu-phys-bits-emulate2 domain is host-model: libvirt expands
    it from the host (its expected argv shows a Haswell model the test host
    has); the reader cannot know it."""
    with pytest.raises(CommandLineError, match="host-model"):
        read_libvirt_xml(str(TESTS / "cpu-phys-bits-emulate2.x86_64-latest.xml"))


def test_unreadable_files(tmp_path):
    bad = tmp_path / "d.xml"
    bad.write_bytes(b"<domain>\xff\xfe</domain>")
    with pytest.raises(ParseError, match="not UTF-8"):
        read_libvirt_xml(str(bad))
    with pytest.raises(CommandLineError, match="No such file"):
        read_libvirt_xml(str(tmp_path / "missing.xml"))


# -- real QEMU 7.2 accepts the command lines -----------------------------------
def runnable(argv: list[str], tmp: str) -> list[str]:
    """What this machine can run of a libvirt argv: no vfio-pci (no GPU
    here), user networking for the tap, socket paths for the fds, null
    chardevs and audio for SPICE (this QEMU build has no SPICE module),
    scratch files for images that do not exist, TCG with -cpu max for -cpu
    host (this nested KVM fails -cpu host: 'failed to set MSR 0x10a')."""
    out, i = [QEMU], 1
    while i < len(argv):
        o, v = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        if o == "-device" and v and '"vfio-pci"' in v:
            i += 2
            continue
        if o == "-netdev":
            out += ["-netdev", json.dumps({"type": "user", "id": json.loads(v)["id"]})]
        elif o == "-chardev" and ",fd=" in v:
            cid = v.split(",")[1]
            out += ["-chardev", f"socket,{cid},path={tmp}/{cid[3:]}.sock,server=on,wait=off"]
        elif o == "-object" and '"secret"' in v:
            Path(tmp, "key").write_bytes(b"0" * 32)
            out += ["-object", json.dumps({**json.loads(v), "file": f"{tmp}/key"})]
        elif o == "-blockdev" and '"filename"' in v:
            d = json.loads(v)
            if not os.path.exists(d["filename"]):
                new = os.path.join(tmp, os.path.basename(d["filename"]))
                if "VARS" in new:
                    shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.ms.fd", new)
                else:
                    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", new, "64M"],
                                   check=True)
                d["filename"] = new
            out += ["-blockdev", json.dumps(d)]
        elif o == "-vnc":
            out += ["-vnc", "none"]
        elif o == "-spice":
            pass                        # this QEMU build has no SPICE module
        elif o == "-chardev" and v.startswith("spicevmc,"):
            out += ["-chardev", "null," + v.split(",")[1]]
        elif o == "-audiodev" and '"spice"' in v:
            out += ["-audiodev", json.dumps({**json.loads(v), "driver": "none"})]
        elif o == "-cpu" and v.split(",")[0] == "host":
            out += ["-cpu", "max" + v[4:]]
        elif o == "-accel":
            out += ["-accel", "tcg"]
        elif o.startswith("-") and v is not None and not v.startswith("-"):
            out += [o, v]
        else:
            out.append(o)
            i += 1
            continue
        i += 2
    return out


def run_placement(argv: list[str]) -> dict:
    """Start QEMU (-S) on ``argv`` and read, for every -device with an id,
    where QEMU put it: QOM ``addr`` (devfn) and ``parent_bus``."""
    from vfiolab.real.qemurun import qom_placement
    ids = []
    for i, a in enumerate(argv):
        if a == "-device" and argv[i + 1].startswith("{"):
            d = json.loads(argv[i + 1])
            if "addr" in d and d["driver"] != "vfio-pci":
                ids.append(d["id"])
    return qom_placement(lambda tmp: runnable(argv, tmp) + [
        "-qmp", f"unix:{os.path.join(tmp, 'qmp.sock')},server=on,wait=off"],
        ids, "qmp.sock", "libvirt argv")


def _qemu_ok() -> bool:
    from vfiolab.real.qemurun import qemu_available
    return os.path.exists(QEMU) and qemu_available(QEMU)


@pytest.mark.skipif(not _qemu_ok(), reason="needs QEMU 7.2 (/usr/bin/qemu-system-x86_64)")
@pytest.mark.parametrize("xml", ["q35-ovmf-gpu.xml", "androiduam.xml"])
def test_real_qemu_accepts(xml):
    """QEMU 7.2 starts with the generated command line (without vfio-pci) and
    puts each device where the XML's <address> says (QOM addr = slot << 3 |
    function, parent_bus = the controller's bus)."""
    argv = read_libvirt_xml(str(DATA / xml))
    placed = run_placement(argv)
    assert placed
    for i, a in enumerate(argv):
        if a != "-device" or not argv[i + 1].startswith("{"):
            continue
        d = json.loads(argv[i + 1])
        if d["id"] not in placed:
            continue
        slot, _, fn = d["addr"].partition(".")
        devfn, bus = placed[d["id"]]
        assert devfn == int(slot, 16) << 3 | (int(fn, 16) if fn else 0), d
        assert bus.endswith("/" + d["bus"]), (d, bus)


# -- predictions (the command-line reader must accept libvirt's argv) ----------
def test_predict_catalogue_domain():
    """A q35 domain whose devices the catalogue has (root ports, VGA,
    virtio-net, e1000e): every device lands where its <address> says."""
    from vfiolab.predict import predict
    ports = "".join(f"""<controller type='pci' index='{i}' model='pcie-root-port'>
      <model name='pcie-root-port'/><target chassis='{i}' port='{0xf + i:#x}'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='{i - 1:#x}'
      {"multifunction='on'" if i == 1 else ""}/></controller>""" for i in (1, 2))
    text = _domain(devices=ports + """
    <interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></interface>
    <interface type='user'><mac address='52:54:00:00:00:02'/><model type='e1000e'/>
      <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/></interface>
    <video><model type='vga' vram='16384'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/></video>
    <memballoon model='none'/>""")
    p = predict(libvirt_argv(text)[1:], stack="debian12", cpu_vendor="GenuineIntel",
                phys_bits=46)
    by_id = {d.qdev_id: d for d in p.devices()}
    assert (by_id["video0"].bus, by_id["video0"].slot) == (0, 1)
    assert (by_id["pci.2"].slot, by_id["pci.2"].func) == (2, 1)
    assert by_id["net1"].bus == by_id["pci.2"].secondary_bus


def test_virtio_options_tpm_and_multiqueue():
    """Devices of a libvirt 9.x Windows 11 domain whose command line was
    published (a public GitHub file; see data/configs/README.md): virtio
    <driver iommu='on' ats='on' queues='8'/> -> iommu_platform, ats, mq and
    2N+2 MSI-X vectors right after the driver; the balloon's deflate-on-oom
    and free-page-reporting before its address; an emulated TPM behind
    tpm-crb (MMIO, no PCI function) after the channels."""
    text = _domain(devices="""
    <controller type='pci' index='1' model='pcie-root-port'><model name='pcie-root-port'/>
      <target chassis='1' port='0x10'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/></controller>
    <controller type='pci' index='4' model='pcie-root-port'><model name='pcie-root-port'/>
      <target chassis='4' port='0x13'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x3'/></controller>
    <interface type='network'><mac address='52:54:00:4e:aa:fc'/><model type='virtio'/>
      <driver iommu='on' ats='on' queues='8'/><rom bar='on' file='/usr/share/ipxe/qemu/efi-virtio.rom'/>
      <boot order='3'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></interface>
    <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>
    <memballoon model='virtio' autodeflate='on' freePageReporting='on'>
      <driver iommu='on' ats='on'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x1'/></memballoon>
    """).replace("<name>g</name>", "<name>win11</name>").replace("id='2'", "id='1'")
    argv = libvirt_argv(text)
    dev = [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]
    assert ('{"driver":"virtio-net-pci","iommu_platform":true,"ats":true,"mq":true,"vectors":18,'
            '"netdev":"hostnet0","id":"net0","mac":"52:54:00:4e:aa:fc","bootindex":3,'
            '"bus":"pci.4","addr":"0x0","rombar":1,'
            '"romfile":"/usr/share/ipxe/qemu/efi-virtio.rom"}') in dev
    assert ('{"driver":"virtio-balloon-pci","iommu_platform":true,"ats":true,"id":"balloon0",'
            '"deflate-on-oom":true,"free-page-reporting":true,"bus":"pci.1",'
            '"addr":"0x0.0x1"}') in dev
    i = argv.index("-tpmdev")
    assert argv[i - 2:i + 4] == ["-chardev",
                                 "socket,id=chrtpm,path=/run/libvirt/qemu/swtpm/1-win11-swtpm.sock",
                                 "-tpmdev", "emulator,id=tpm-tpm0,chardev=chrtpm",
                                 "-device", '{"driver":"tpm-crb","tpmdev":"tpm-tpm0","id":"tpm0"}']


@pytest.mark.parametrize("element, words", [
    ("<filesystem type='mount'/>", "vhost-user-fs-pci"),
    ("<vsock model='virtio'/>", "vhost-vsock-pci"),
    ("<iommu model='virtio'/>", "only model='intel'"),
    ("<iommu model='intel'><driver intremap='on'/></iommu>", "kernel_irqchip=split"),
    ("<panic model='pvpanic'/>", "pvpanic-pci"),
    ("<gizmo/>", "not known to the reader"),
])
def test_devices_that_would_be_missed_are_refused(element, words):
    with pytest.raises(CommandLineError, match=words):
        libvirt_argv(_domain(devices=element))


def test_intel_iommu():
    """<iommu model='intel'> -> the vIOMMU device right after -boot, before
    the PCI devices, with the <driver> attributes as intel-iommu properties:
    libvirt's tests/qemuxmlconfdata/intel-iommu.x86_64-latest.args
    ('{"driver":"intel-iommu","id":"iommu0"}') and intel-iommu-aw-bits
    ('..."id":"iommu0","intremap":"on","aw-bits":48}'), read at libvirt
    commit c2ea8b2e7c (qemuBuildIOMMUCommandLine)."""
    argv = libvirt_argv(_domain(devices="<iommu model='intel'/>"))
    i = argv.index("strict=on")
    assert argv[i + 1:i + 3] == ["-device", '{"driver":"intel-iommu","id":"iommu0"}']
    argv = libvirt_argv(_domain(devices="<iommu model='intel'><driver caching_mode='on' "
                                        "aw_bits='48'/></iommu>"))
    assert '{"driver":"intel-iommu","id":"iommu0","caching-mode":"on","aw-bits":48}' in argv
    with pytest.raises(CommandLineError, match="q35"):
        libvirt_argv(_domain(devices="<iommu model='intel'/>", machine="pc-i440fx-7.2"))


def test_memtune_for_the_memlock_rule():
    """<memtune><hard_limit> (a scaled size, KiB by default) and
    <memoryBacking><locked/>: the inputs of libvirt's locked-memory rule
    besides the devices (qemuDomainGetMemLockLimitBytes); a hard limit of
    VIR_DOMAIN_MEMORY_PARAM_UNLIMITED (9007199254740991 KiB) is "not set"
    (src/util/virutil.c virMemoryLimitIsSet)."""
    from vfiolab.inputs.libvirt import libvirt_memtune
    x = _domain(extra="<memtune><hard_limit unit='GiB'>10</hard_limit></memtune>")
    assert libvirt_memtune(x) == {"hard_limit": 10 << 30, "locked": False}
    x = _domain(extra="<memtune><hard_limit>9007199254740991</hard_limit></memtune>"
                      "<memoryBacking><locked/></memoryBacking>")
    assert libvirt_memtune(x) == {"hard_limit": None, "locked": True}
    assert libvirt_memtune(_domain()) == {"hard_limit": None, "locked": False}


def test_ignored_devices_are_reported():
    notes = []
    libvirt_argv(_domain(devices="<hub type='usb'/><panic model='isa'/>"), notes=notes)
    assert notes == ["not written (no PCI function, memory or DMA): <hub>"]
