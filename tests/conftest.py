"""Shared pytest setup for vfiolab's tests."""


def pytest_configure(config):
    # Tests that start real QEMU (vfiolab.real.capture); deselect with -m "not live".
    config.addinivalue_line(
        "markers",
        "live: runs real qemu-system-x86_64 (skips itself when QEMU or KVM is missing)")
