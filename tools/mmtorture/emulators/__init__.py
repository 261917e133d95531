"""The emulators a scenario can name (`emulator = NAME`, default qemu)."""

from .qemu import Qemu

EMULATORS = {e.name: e for e in (Qemu(),)}


def emulator_for(scn):
    return EMULATORS[scn.emulator]
