#!/bin/sh
# Checks that the host has what building mmtorture and booting it under
# QEMU need, and installs the missing Debian packages when run as root
# (CI runs on a fresh Debian as root; developers get the command instead).
# POSIX sh: the Makefile runs it with sh, which is dash on Debian.
set -u

# The lock timeout covers an apt that is already running (unattended
# upgrades on a fresh machine); -o Dpkg::Use-Pty=0 keeps progress bars
# out of CI logs.
apt_opts="-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0"

# Linux's KTAP parser, tools/testing/kunit of a Linux source tree, taken
# from Debian's linux-source tarball into DIR/tools/testing/kunit (the
# runner checks every log with its kunit.py, which insists on living at
# that path of a tree). Optional: without it the runner says how to get it
# and goes on, so a missing package is installed as root and otherwise
# only named.
kunit_tarball() {
	ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1
}

setup_kunit() {
	dir=$1
	[ -f "$dir/tools/testing/kunit/kunit.py" ] && return 0
	tarball=$(kunit_tarball)
	if [ -z "$tarball" ] || ! command -v xz >/dev/null 2>&1; then
		if [ "$(id -u 2>/dev/null)" != 0 ]; then
			echo "mmtorture: Linux's kunit.py (Debian package linux-source) is missing, so the" \
				"logs are not checked with it; to check them: sudo apt-get install -y linux-source xz-utils && make kunit" >&2
			return 0
		fi
		echo "mmtorture: installing linux-source for Linux's KTAP parser (kunit.py)"
		export DEBIAN_FRONTEND=noninteractive
		# shellcheck disable=SC2086
		apt-get $apt_opts -qq update || echo "mmtorture: apt-get update failed; trying the install anyway" >&2
		# shellcheck disable=SC2086
		if ! apt-get $apt_opts -qq install -y --no-install-recommends linux-source xz-utils; then
			echo "mmtorture: apt-get install linux-source failed; the logs are not checked with kunit.py" >&2
			return 0
		fi
		tarball=$(kunit_tarball)
	fi
	if [ -z "$tarball" ]; then
		echo "mmtorture: linux-source installed no /usr/src/linux-source-*.tar.xz" >&2
		return 1
	fi
	# The tarball's top directory is linux-source-X.Y, which becomes $dir.
	top=$(basename "$tarball" .tar.xz)
	echo "mmtorture: extracting $top/tools/testing/kunit into $dir"
	rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" || return 1
	if ! tar -xJf "$tarball" -C "$dir.tmp" --strip-components=1 "$top/tools/testing/kunit"; then
		echo "mmtorture: could not extract kunit from $tarball" >&2
		rm -rf "$dir.tmp"
		return 1
	fi
	echo "$tarball" > "$dir.tmp/SOURCE"
	rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# LAVA's dispatcher (lava-run), its job schema (lava-common) and the
# client that submits jobs to a lab (lavacli), for make lava; installed as
# root, else the line is printed and make lava stops.
setup_lava() {
	command -v lava-run >/dev/null 2>&1 && command -v lavacli >/dev/null 2>&1 &&
		[ -d /usr/lib/python3/dist-packages/lava_common ] && return 0
	if [ "$(id -u 2>/dev/null)" != 0 ]; then
		echo "mmtorture: make lava needs LAVA; run: sudo apt-get install -y --no-install-recommends" \
			"lava-dispatcher lava-common lavacli" >&2
		return 1
	fi
	echo "mmtorture: installing lava-dispatcher lava-common lavacli"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	apt-get $apt_opts -qq update || echo "mmtorture: apt-get update failed; trying the install anyway" >&2
	# shellcheck disable=SC2086
	apt-get $apt_opts -qq install -y --no-install-recommends lava-dispatcher lava-common lavacli
}

# A newer QEMU beside the system's, for the scenarios that need one
# (README: QEMU versions): qemu-system-x86 from Debian's bookworm-backports,
# fetched with apt under a private state in DIR (its own source list and
# package lists), so the system's apt sources and its QEMU stay as they
# are; unpacked into DIR/root and started through the wrapper
# DIR/qemu-system-x86_64. Asked for with make deps QEMU=backports.
setup_qemu_backports() {
	dir=$1
	[ -x "$dir/qemu-system-x86_64" ] && return 0
	suite=${QEMU_BACKPORTS_SUITE:-bookworm-backports}
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
	mkdir -p "$dir/apt/state/lists/partial" "$dir/apt/cache/archives/partial" "$dir/apt/sources.list.d" \
		"$dir/debs" || return 1
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
		> "$dir/apt/sources.list"
	private="-o Dir::Etc::SourceList=$dir/apt/sources.list -o Dir::Etc::SourceParts=$dir/apt/sources.list.d
		-o Dir::State=$dir/apt/state -o Dir::State::Lists=$dir/apt/state/lists
		-o Dir::Cache=$dir/apt/cache -o Dir::State::status=/var/lib/dpkg/status
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root"
	echo "mmtorture: fetching qemu-system-x86 from $suite into $dir (the system's apt sources are not changed)"
	# shellcheck disable=SC2086
	apt-get $private -qq update || { echo "mmtorture: apt-get update of $suite failed" >&2; return 1; }
	# shellcheck disable=SC2086
	(cd "$dir/debs" && rm -f ./*.deb && apt-get $private -qq download qemu-system-x86 qemu-system-common \
		qemu-system-data) || { echo "mmtorture: could not download QEMU from $suite" >&2; return 1; }
	rm -rf "$dir/root"
	for deb in "$dir"/debs/*.deb; do
		dpkg-deb -x "$deb" "$dir/root" || return 1
	done
	missing_libs=$(ldd "$dir/root/usr/bin/qemu-system-x86_64" | awk '/not found/ { print $1 }')
	if [ -n "$missing_libs" ]; then
		echo "mmtorture: the $suite QEMU needs libraries this system lacks: $missing_libs" >&2
		return 1
	fi
	# Its own firmware and option ROMs (-L); the system's QEMU modules
	# (display, audio) do not load into it, which it says and goes on.
	cat > "$dir/qemu-system-x86_64" <<-WRAPPER
	#!/bin/sh
	exec "$dir/root/usr/bin/qemu-system-x86_64" -L "$dir/root/usr/share/qemu" "\$@"
	WRAPPER
	chmod +x "$dir/qemu-system-x86_64"
	"$dir/qemu-system-x86_64" --version | head -n 1
}

if [ "${1:-}" = qemu-backports ]; then
	setup_qemu_backports "${2:?usage: tools/deps.sh qemu-backports DIR}"
	exit
fi

if [ "${1:-}" = lava ]; then
	setup_lava
	exit
fi

if [ "${1:-}" = kunit ]; then
	setup_kunit "${2:?usage: tools/deps.sh kunit DIR}"
	exit
fi

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
