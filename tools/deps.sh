#!/bin/sh
# Checks that the host has what building mmtorture and booting it under
# QEMU need, and installs the missing Debian packages when run as root
# (CI runs on a fresh Debian as root; developers get the command instead).
# POSIX sh: the Makefile runs it with sh, which is dash on Debian.
set -u

missing=""

want_pkg() {
	case " $missing " in
	*" $1 "*) ;;
	*) missing="${missing:+$missing }$1" ;;
	esac
}

check_all() {
	missing=""
	for pair in \
		nasm:nasm \
		qemu-system-x86_64:qemu-system-x86 \
		grub-mkrescue:grub-common \
		grub-file:grub-common \
		xorriso:xorriso \
		mformat:mtools \
		python3:python3 \
		gcc:gcc \
		ld:binutils \
		nm:binutils \
		addr2line:binutils \
		make:make \
		bochs-bin:bochs
	do
		command -v "${pair%%:*}" >/dev/null 2>&1 || want_pkg "${pair#*:}"
	done
	# grub-mkrescue only builds the boot paths whose platform files exist;
	# without one of these the ISO silently boots on BIOS or UEFI only.
	# The -bin packages are used because they install side by side, unlike
	# grub-pc and grub-efi-amd64.
	[ -f /usr/lib/grub/i386-pc/moddep.lst ] || want_pkg grub-pc-bin
	[ -f /usr/lib/grub/x86_64-efi/moddep.lst ] || want_pkg grub-efi-amd64-bin
	for f in /usr/share/OVMF/OVMF_CODE.fd /usr/share/OVMF/OVMF_VARS.fd; do
		[ -f "$f" ] || want_pkg ovmf
	done
	# Bochs, the second x86 implementation: its BIOS, SeaBIOS's VGA BIOS
	# (with Bochs's own, GRUB corrupts its heap) and the terminal display
	# (installed with bochs so that apt does not pick the GTK one).
	[ -f /usr/share/bochs/BIOS-bochs-latest ] || want_pkg bochsbios
	[ -f /usr/share/seabios/vgabios-stdvga.bin ] || want_pkg seabios
	ls /usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_term_gui.so* >/dev/null 2>&1 || want_pkg bochs-term
}

check_all
[ -z "$missing" ] && exit 0

if [ "$(id -u 2>/dev/null)" != 0 ]; then
	echo "mmtorture: missing host packages; run: sudo apt-get install -y $missing" >&2
	exit 1
fi

echo "mmtorture: installing missing host packages: $missing"
export DEBIAN_FRONTEND=noninteractive
# The lock timeout covers an apt that is already running (unattended
# upgrades on a fresh machine); -o Dpkg::Use-Pty=0 keeps progress bars
# out of CI logs.
apt_opts="-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0"
# A failed update is not fatal by itself: the lists on the machine may
# still be enough for the install below, which decides.
# shellcheck disable=SC2086
apt-get $apt_opts -qq update || echo "mmtorture: apt-get update failed; trying the install anyway" >&2
# shellcheck disable=SC2086
if ! apt-get $apt_opts -qq install -y --no-install-recommends $missing; then
	echo "mmtorture: apt-get install failed for: $missing" >&2
	exit 1
fi

check_all
if [ -n "$missing" ]; then
	echo "mmtorture: still missing after install: $missing" >&2
	exit 1
fi
