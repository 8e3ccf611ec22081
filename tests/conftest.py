"""Shared pytest setup for vfiolab's tests."""

import os

from hypothesis import settings

# Property tests: no per-example deadline (a loaded CI machine is slow, which
# is not a failure); on CI (CI=true) the examples are derived from each test
# rather than drawn at random, so a run passes or fails the same way every
# time; a developer's run keeps exploring new examples.
settings.register_profile("vfiolab", deadline=None)
settings.register_profile("vfiolab-ci", deadline=None, derandomize=True)
settings.load_profile("vfiolab-ci" if os.environ.get("CI") else "vfiolab")


def pytest_configure(config):
    # Tests that start real QEMU (vfiolab.real.capture); deselect with -m "not live".
    config.addinivalue_line(
        "markers",
        "live: runs real qemu-system-x86_64 (skips itself when QEMU or KVM is missing)")
