#!/usr/bin/env python3
"""Write an ACPI SPCR table (Serial Port Console Redirection, revision 2).

QEMU adds a raw table blob to the guest's ACPI tables with
`-acpitable file=BLOB`; the runner uses this to tell the kernel that the
firmware's console is some UART other than COM1 (scenario key `spcr`).

A UART is described as SPACE:ADDRESS[,key=value...]:

    io:0x2f8                      COM2, 115200 baud
    io:0x3e8,baud=9600            COM3 at 9600 baud
    mmio:0xfe032000,width=4       32-bit MMIO registers 4 bytes apart
    io:0x2f8,baud=0               "as is": keep the firmware's rate
    io:0x2f8,type=3               interface type 3 (PL011: not a 16550)

Layout (offsets in bytes, from Microsoft's SPCR specification):
    0 ACPI header (36)   36 interface type   40 base address (GAS, 12)
    52 interrupt type    53 PC-AT IRQ        54 global system interrupt
    58 baud rate code    59 parity  60 stop bits  61 flow control
    62 terminal type     63 language  64 PCI device id  66 PCI vendor id
    68 PCI bus/dev/fn    71 PCI flags  75 PCI segment  76 reserved (4)

Standard library only.
"""

import argparse
import struct
import sys

# Configured Baud Rate codes; 0 means "as is" (keep the firmware's setting).
BAUD_CODES = {0: 0, 9600: 3, 19200: 4, 57600: 6, 115200: 7}
# GAS address space ids and access sizes.
SPACES = {"mmio": 0, "io": 1}
ACCESS_SIZE = {1: 1, 2: 2, 4: 3, 8: 4}
# PC-AT IRQ lines of the legacy COM ports, for the interrupt fields.
LEGACY_IRQ = {0x3f8: 4, 0x2f8: 3, 0x3e8: 4, 0x2e8: 3}


class SpecError(ValueError):
    pass


def parse_spec(text):
    """'io:0x2f8,baud=9600' -> dict(space, address, baud, width, type)."""
    head, _, rest = text.strip().partition(",")
    space, colon, addr = head.partition(":")
    if not colon or space not in SPACES:
        raise SpecError("expected io:ADDRESS or mmio:ADDRESS, got %r" % text)
    try:
        address = int(addr, 0)
    except ValueError:
        raise SpecError("bad address %r" % addr)
    spec = {"space": space, "address": address, "baud": 115200, "width": 1, "type": 0}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in ("baud", "width", "type"):
            raise SpecError("unknown item %r (known: baud=, width=, type=)" % item)
        try:
            spec[key] = int(value, 0)
        except ValueError:
            raise SpecError("%s: not a number: %r" % (key, value))
    if spec["baud"] not in BAUD_CODES:
        raise SpecError("baud must be one of %s" % ", ".join(str(b) for b in sorted(BAUD_CODES)))
    if spec["width"] not in ACCESS_SIZE:
        raise SpecError("width must be 1, 2, 4 or 8 bytes")
    limit = 0xffff if space == "io" else (1 << 64) - 1
    if not 0 <= address <= limit:
        raise SpecError("address out of range for %s" % space)
    if not 0 <= spec["type"] <= 0xff:
        raise SpecError("type is one byte")
    return spec


def build_spcr(spec):
    width = spec["width"]
    gas = struct.pack("<BBBBQ", SPACES[spec["space"]], width * 8, 0, ACCESS_SIZE[width],
                      spec["address"])
    irq = LEGACY_IRQ.get(spec["address"], 0) if spec["space"] == "io" else 0
    body = struct.pack(
        "<B3s12sBBIBBBBBBHHBBBIBI",
        spec["type"], b"\0" * 3, gas,
        1 if irq else 0,        # interrupt type: bit 0 = PC-AT 8259 IRQ
        irq, 0,                 # PC-AT IRQ, global system interrupt
        BAUD_CODES[spec["baud"]],
        0, 1, 0, 0, 0,          # no parity, 1 stop bit, no flow control, VT100, language 0
        0xffff, 0xffff,         # not a PCI device
        0, 0, 0, 0, 0, 0)       # PCI bus, device, function, flags, segment; reserved
    length = 36 + len(body)
    header = struct.pack("<4sIBB6s8sI4sI", b"SPCR", length, 2, 0, b"MMTORT", b"MMTSPCR ",
                         1, b"MMTT", 1)
    table = bytearray(header + body)
    table[9] = (-sum(table)) & 0xff
    assert length == 80 and sum(table) & 0xff == 0
    return bytes(table)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("uart", help="SPACE:ADDRESS[,baud=N][,width=N][,type=N], e.g. io:0x2f8")
    ap.add_argument("-o", "--output", required=True, help="file to write the table to")
    args = ap.parse_args(argv)
    try:
        table = build_spcr(parse_spec(args.uart))
    except SpecError as e:
        ap.error(str(e))
    with open(args.output, "wb") as f:
        f.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
