"""Network boot: `make netboot`'s TFTP tree (GRUB's network images made by
grub-mknetdir for i386-pc and x86_64-efi, the kernel, boot/grub/grub.cfg)
and, for a scenario with `boot = net`, the run's own TFTP root made from
it, which the emulator's TFTP server serves."""

import os
import shutil

from .common import ROOT

NETBOOT_TREE = os.path.join(ROOT, "build", "netboot")
TFTP_ROOT = "tftp"      # in the run directory
# The GRUB platform directory and the image a firmware's PXE client loads
# (grub-mknetdir's names), by firmware.
NET_IMAGES = {"bios": ("i386-pc", "core.0"), "uefi": ("x86_64-efi", "core.efi")}


def net_image(firmware, tree=NETBOOT_TREE):
    """(path of GRUB's network image for firmware in tree, the bootfile
    name a DHCP server gives for it, relative to the TFTP root)."""
    platform, image = NET_IMAGES[firmware]
    bootfile = "boot/grub/%s/%s" % (platform, image)
    return os.path.join(tree, bootfile), bootfile


def missing_net_image(firmware, tree=NETBOOT_TREE):
    """None, or what is missing for a net boot with firmware."""
    path, _ = net_image(firmware, tree)
    if not os.path.isfile(path):
        return "%s does not exist; build the TFTP tree first (make netboot)" % os.path.relpath(path)
    return None


def make_tftp_root(elf, grub_cfg, run_dir, firmware, tree=NETBOOT_TREE):
    """run_dir/tftp for one net boot: GRUB's platform directory from tree
    (hard links where the file system allows), the kernel, and grub_cfg
    (the text) where the network image reads it: $prefix/grub.cfg, the
    prefix being /boot/grub on the server.  Returns the root; OSError when
    tree lacks the image."""
    problem = missing_net_image(firmware, tree)
    if problem:
        raise FileNotFoundError(problem)
    root = os.path.join(run_dir, TFTP_ROOT)
    platform, _ = NET_IMAGES[firmware]

    def link_or_copy(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)
    shutil.copytree(os.path.join(tree, "boot", "grub", platform),
                    os.path.join(root, "boot", "grub", platform), copy_function=link_or_copy)
    shutil.copyfile(elf, os.path.join(root, "boot", "mmtorture.elf"))
    with open(os.path.join(root, "boot", "grub", "grub.cfg"), "w") as f:
        f.write(grub_cfg)
    return root
