"""The thread's story as one ordered event stream.

A VM with a passed-through device goes through the steps the mailing-list
thread walks through, and every step leaves its events in ``vm.events``:

1. ``realize``: QEMU opens the device, reads its regions
   (``vfio_region_setup``), mmaps its BARs (``vfio_region_mmap``), and the
   VFIO container's listener maps guest RAM for DMA (``map_dma``);
2. ``firmware``: SeaBIOS sizes and programs the (emulated) BARs and enables
   decode; each config access is a trap to QEMU (``pci_cfg_read``/
   ``pci_cfg_write``), passed to the kernel (``vfio_pci_write_config``);
   enabling decode maps the BARs (``pci_update_mappings_add``), the flat
   view changes (``flatview_commit``) and the listeners react: on QEMU 7.2
   VFIO first on additions, KVM first on deletions (``set_user_memory``);
   from QEMU 8.0 (f39b7d2b96, ``kvm_region_commit``) KVM's memslot changes
   come after every VFIO map and unmap of the transaction
   (``vfiolab.model.kvm``);
3. ``move_clean``: the guest kernel moves a BAR with decode off around the
   write: one unmap, one map;
4. ``move_careless``: the same move with decode on, low dword first: the
   BAR is mapped at an intermediate address in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ActionError
from .boot import boot, build_vm, firmware_platform
from ..stack import Stack
from .config import QemuConfig
from .guest import move_bar
from .vm import VM

__all__ = ["Story", "run_story"]


@dataclass
class Story:
    """A VM and the step boundaries in its event stream."""

    vm: VM
    steps: list = field(default_factory=list)      # (name, first index, end index)

    def step(self, name: str):
        """Run a block as step ``name``: events emitted inside are tagged."""
        story = self

        class _Step:
            def __enter__(self):
                self.start = len(story.vm.events)
                return story

            def __exit__(self, *exc):
                story.steps.append((name, self.start, len(story.vm.events)))
                return False
        return _Step()

    def events(self, step: str | None = None) -> list[dict]:
        """Events (each with its ``step`` and sequence number ``seq``)."""
        out = []
        for name, a, b in self.steps:
            if step is not None and name != step:
                continue
            for i in range(a, b):
                ev = dict(self.vm.events[i])
                ev["step"] = name
                ev["seq"] = i
                out.append(ev)
        return out


def run_story(cfg: QemuConfig, *, host_devices: dict | None = None, bdf: str | None = None,
              bar: int | None = None, moves: list[tuple[int, str]] = (),
              stack: Stack | None = None, trace_firmware_config: bool = True) -> Story:
    """Build the VM for ``cfg`` on ``stack``, boot its firmware, then apply ``moves``
    (``(address, "clean"|"careless")``) to BAR ``bar`` of the function at
    ``bdf`` (e.g. ``"00:01.0"``), each as its own step."""
    story = Story(vm=None)  # type: ignore[arg-type]
    events_before = []
    vm = build_vm(cfg, stack=stack, host_devices=host_devices or {})
    story.vm = vm
    # realize happened inside build_vm; its events are the stream's start
    story.steps.append(("realize", 0, len(vm.events)))
    del events_before
    with story.step("firmware"):
        vm.trace_config = trace_firmware_config
        boot(vm, firmware_platform(vm, cfg))
        vm.trace_config = True
    for i, (address, how) in enumerate(moves):
        if bdf is None or bar is None:
            raise ActionError(i, "bdf/bar", "a move needs the device (bdf) and the BAR index")
        with story.step(f"move_{how}" if sum(1 for _, h in moves if h == how) == 1
                        else f"move_{how}_{i}"):
            move_bar(vm, bdf, bar, address, how)
    return story
