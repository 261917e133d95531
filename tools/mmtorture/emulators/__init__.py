"""The emulators a scenario can name (`emulator = NAME`, default qemu)."""

from .bochs import Bochs
from .qemu import Qemu

EMULATORS = {e.name: e for e in (Qemu(), Bochs())}


def emulator_for(scn):
    return EMULATORS[scn.emulator]
