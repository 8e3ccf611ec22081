"""Running real QEMU, and what its runs left behind.

``qemurun``     one QEMU process with a QMP socket: start, wait, query, stop
``capture``     a firmware-only run recorded as a reference (``python -m vfiolab capture``)
``reference``   the references in data/references/, loaded as records
``guestcap``    the minimal guest of guest/ run under real KVM: which accesses exit
``kvmcompare``  a KVM tracepoint capture set beside the model's EPT fills

This layer may import the model and the inputs; nothing in ``vfiolab.model`` imports it.
"""
