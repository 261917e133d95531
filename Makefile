# mmtorture build. `make` builds build/mmtorture.elf and the hybrid
# BIOS+UEFI image build/mmtorture.iso; `make run` boots it under QEMU;
# `make check` runs the scenario matrix. `make V=1` shows the commands.

CROSS_COMPILE ?=
CC      := $(CROSS_COMPILE)gcc
LD      := $(CROSS_COMPILE)ld
NM      := $(CROSS_COMPILE)nm
NASM    ?= nasm
PYTHON  ?= python3
QEMU    ?= qemu-system-x86_64
# QEMU=backports: a newer QEMU from Debian's bookworm-backports beside the
# system's (make deps QEMU=backports fetches it; README: QEMU versions).
QEMU_BACKPORTS := build/qemu-backports/qemu-system-x86_64
ifeq ($(QEMU),backports)
override QEMU := $(QEMU_BACKPORTS)
endif
BUILD   := build

ifeq ($(V),1)
Q :=
else
Q := @
endif

CFLAGS := \
	-std=c11 \
	-ffreestanding \
	-mcmodel=kernel \
	-mno-red-zone \
	-mgeneral-regs-only \
	-fno-pic -fno-pie \
	-fno-stack-protector \
	-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-shrink-wrap \
	-fno-asynchronous-unwind-tables \
	-fno-strict-aliasing \
	-fno-tree-loop-distribute-patterns \
	-fno-common \
	-O2 -g \
	-Wall -Wextra -Werror -Wno-unused-parameter \
	-I. \
	-MMD -MP
# Why each flag:
#  -std=c11 -ffreestanding     C11 with no hosted library: the kernel brings its own
#  -mcmodel=kernel             the image is linked in the top 2 GiB (sign-extended 32-bit addresses)
#  -mno-red-zone               interrupts push onto the stack we run on; no 128-byte scratch below RSP
#  -mgeneral-regs-only         no SSE/x87 code: interrupt entry saves only general registers
#  -fno-pic -fno-pie           absolute addressing, no GOT
#  -fno-stack-protector        no canary runtime in this kernel
#  -fno-omit-frame-pointer, -mno-omit-leaf-frame-pointer, -fno-shrink-wrap
#                              every function sets up its RBP frame on entry (not only on the
#                              paths that call out), so a backtrace from a fault anywhere is whole
#  -fno-asynchronous-unwind-tables
#                              no .eh_frame: backtraces use frame pointers
#  -fno-strict-aliasing        pages are read as PTEs, words and structs
#  -fno-tree-loop-distribute-patterns
#                              stop GCC turning loops into memset/memcpy calls (memset's own loop)
#  -fno-common                 one definition per global
#  -O2 -g                      optimised like a real kernel; symbols for gdb and addr2line
#  -Wall -Wextra -Werror       warnings are bugs (unused parameters are allowed: handler signatures)
#  -I.                         headers are included by their path from the repo root
#  -MMD -MP                    header dependencies

NASMFLAGS := -f elf64 -Wall -g -F dwarf
# (-MD FILE -MP per object: %include dependencies, e.g. arch/x86/frame.inc;
#  include paths are from the repo root, where make runs NASM.)
# -z max-page-size=4096: segments aligned to pages, not 2 MiB, so the image stays small.
# --no-warn-rwx-segments: the 32-bit boot segment is RWX by necessity; the kernel's own
#   page tables never map it.
LDFLAGS := -nostdlib -static -z max-page-size=4096 -z noexecstack --no-warn-rwx-segments -T linker.ld

C_SRCS   := $(sort $(wildcard boot/*.c arch/x86/*.c kernel/*.c mm/*.c tests/*.c))
ASM_SRCS := $(sort $(wildcard boot/*.asm arch/x86/*.asm))
OBJS     := $(C_SRCS:%.c=$(BUILD)/%.o) $(ASM_SRCS:%.asm=$(BUILD)/%.asm.o)

# User programs (tests/user/): freestanding static ELF executables the
# kernel runs in ring 3 (kernel/uprog.h). They are linked into the kernel
# image, each by incbin in a generated NASM file with a name table, rather
# than loaded as GRUB module2 modules: the one ELF then boots the same way
# from the ISO, a netboot loader or a lab's boot system, with nothing else
# to ship beside it and no module to lose.
USER_PROGS    := selftest segv spin
USER_LIB_OBJS := $(BUILD)/user/crt0.o $(BUILD)/user/ulib.o
USER_ELFS     := $(USER_PROGS:%=$(BUILD)/user/%.elf)
USER_CFLAGS := \
	-std=c11 -ffreestanding -nostdlib \
	-fno-pic -fno-pie \
	-mgeneral-regs-only \
	-fno-stack-protector \
	-fno-asynchronous-unwind-tables \
	-fcf-protection=none \
	-fno-tree-loop-distribute-patterns \
	-O2 \
	-Wall -Wextra -Werror -Wno-unused-parameter \
	-I. \
	-MMD -MP
# Why (where they differ from the kernel's):
#  -fno-pic -fno-pie           static executables at a fixed address (tests/user/user.ld)
#  -mgeneral-regs-only         the kernel saves no SSE/x87 state across traps yet
#  -fcf-protection=none        no ENDBR64 or CET notes: nothing here enables CET
#  (no -mcmodel=kernel, no -mno-red-zone: user code runs in the lower half, and
#   interrupts from ring 3 switch to the kernel stack)
USER_LDFLAGS := -nostdlib -static -no-pie -z max-page-size=4096 -z noexecstack -T tests/user/user.ld
OBJS += $(BUILD)/user_programs.asm.o
# Keep the objects (pattern-rule intermediates): their .d files need them.
.SECONDARY: $(USER_LIB_OBJS) $(USER_PROGS:%=$(BUILD)/user/%.o)

ELF := $(BUILD)/mmtorture.elf
ISO := $(BUILD)/mmtorture.iso

# What `make run` and `make debug` pass to the kernel (exit=qemu is added).
CMDLINE ?=
SMP ?= 4
MEM ?= 512M

.PHONY: all deps kunit netboot lava run check check-bochs soak hardware bench mutate debug clean iso
all: $(ELF) $(ISO)

deps: $(BUILD)/.deps-ok
ifeq ($(QEMU),$(QEMU_BACKPORTS))
deps: qemu-backports
endif
.PHONY: qemu-backports
qemu-backports:
	$(Q)sh tools/deps.sh qemu-backports $(dir $(QEMU_BACKPORTS))
$(BUILD)/.deps-ok: tools/deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)sh tools/deps.sh
	$(Q)touch $@

# Linux's KTAP parser in build/kunit (from Debian's linux-source; installed
# as root, else the apt-get line is printed): the runner checks every log
# with it when it is there.
kunit:
	$(Q)mkdir -p $(BUILD)
	$(Q)sh tools/deps.sh kunit $(BUILD)/kunit

$(BUILD)/%.o: %.c Makefile | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.asm.o: %.asm Makefile | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NASM    $<")
	$(Q)$(NASM) $(NASMFLAGS) -MD $(@:.o=.d) -MP $< -o $@

$(BUILD)/user/%.o: tests/user/%.c Makefile | $(BUILD)/.deps-ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@
$(BUILD)/user/%.elf: $(BUILD)/user/%.o $(USER_LIB_OBJS) tests/user/user.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(USER_LDFLAGS) -o $@ $(USER_LIB_OBJS) $<
$(BUILD)/user_programs.asm: tools/embed_user_programs.py Makefile
	@mkdir -p $(dir $@)
	$(Q)$(PYTHON) tools/embed_user_programs.py $(foreach p,$(USER_PROGS),$(p)=$(BUILD)/user/$(p).elf) > $@
$(BUILD)/user_programs.asm.o: $(BUILD)/user_programs.asm $(USER_ELFS)
	@$(if $(Q),echo "  NASM    $<")
	$(Q)$(NASM) $(NASMFLAGS) $< -o $@

# Two links: the first gives the addresses, tools/gensyms.py turns them
# into the .ksyms section, the second link adds it. .ksyms is last in
# linker.ld, so no other symbol moves; gensyms --check verifies that.
$(BUILD)/ksyms0.c: tools/gensyms.py Makefile
	@mkdir -p $(BUILD)
	$(Q)$(PYTHON) tools/gensyms.py --empty > $@
$(BUILD)/ksyms0.o: $(BUILD)/ksyms0.c
	$(Q)$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/pass1.elf: $(OBJS) $(BUILD)/ksyms0.o linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(LDFLAGS) -o $@ $(OBJS) $(BUILD)/ksyms0.o
$(BUILD)/ksyms.c: $(BUILD)/pass1.elf tools/gensyms.py
	$(Q)$(NM) -n -S --defined-only $< | $(PYTHON) tools/gensyms.py > $@
$(BUILD)/ksyms.o: $(BUILD)/ksyms.c
	$(Q)$(CC) $(CFLAGS) -c $< -o $@
$(ELF): $(OBJS) $(BUILD)/ksyms.o linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(LDFLAGS) -o $@ $(OBJS) $(BUILD)/ksyms.o
	$(Q)$(NM) -n -S --defined-only $(BUILD)/pass1.elf > $(BUILD)/pass1.syms
	$(Q)$(NM) -n -S --defined-only $@ | $(PYTHON) tools/gensyms.py --check $(BUILD)/pass1.syms
	$(Q)grub-file --is-x86-multiboot2 $@ || { echo "$@: not a multiboot2 kernel" >&2; rm -f $@; exit 1; }

iso: $(ISO)
$(ISO): $(ELF) boot/grub.cfg
	@$(if $(Q),echo "  ISO     $@")
	$(Q)rm -rf $(BUILD)/iso && mkdir -p $(BUILD)/iso/boot/grub
	$(Q)cp $(ELF) $(BUILD)/iso/boot/mmtorture.elf
	$(Q)cp boot/grub.cfg $(BUILD)/iso/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $(BUILD)/iso > $(BUILD)/grub-mkrescue.log 2>&1 || { cat $(BUILD)/grub-mkrescue.log; exit 1; }

# The TFTP tree for network boots (README: Network boot): GRUB's network
# images for BIOS PXE (boot/grub/i386-pc/core.0) and UEFI
# (boot/grub/x86_64-efi/core.efi), both reading boot/grub/grub.cfg, the
# ISO's menu, from the server, and the kernel.
NETBOOT := $(BUILD)/netboot
netboot: $(NETBOOT)/boot/mmtorture.elf
$(NETBOOT)/boot/mmtorture.elf: $(ELF) boot/grub.cfg
	@$(if $(Q),echo "  NETBOOT $(NETBOOT)")
	$(Q)rm -rf $(NETBOOT) $(BUILD)/grub-mknetdir.log && mkdir -p $(NETBOOT)/boot/grub
	$(Q)for platform in i386-pc x86_64-efi; do \
	  grub-mknetdir --net-directory=$(NETBOOT) --subdir=boot/grub -d /usr/lib/grub/$$platform \
	    >> $(BUILD)/grub-mknetdir.log 2>&1 || { cat $(BUILD)/grub-mknetdir.log; exit 1; }; \
	done
	$(Q)cp boot/grub.cfg $(NETBOOT)/boot/grub/grub.cfg
	$(Q)cp $(ELF) $@

# A one-entry image for `make run`/`make debug`: no menu, exit=qemu.
$(BUILD)/run.iso: $(ELF) FORCE
	$(Q)rm -rf $(BUILD)/run-iso && mkdir -p $(BUILD)/run-iso/boot/grub
	$(Q)cp $(ELF) $(BUILD)/run-iso/boot/mmtorture.elf
	$(Q)printf 'set timeout=0\ninsmod all_video\nmenuentry "mmtorture" {\n  multiboot2 /boot/mmtorture.elf %s exit=qemu\n  boot\n}\n' '$(CMDLINE)' > $(BUILD)/run-iso/boot/grub/grub.cfg
	$(Q)grub-mkrescue -o $@ $(BUILD)/run-iso > $(BUILD)/grub-mkrescue-run.log 2>&1 || { cat $(BUILD)/grub-mkrescue-run.log; exit 1; }
FORCE:

QEMU_RUN := $(QEMU) -machine pc -accel tcg,thread=multi -cpu max -smp $(SMP) -m $(MEM) \
	-display none -serial stdio -monitor none -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 -cdrom $(BUILD)/run.iso -boot d

# Boot under QEMU (SeaBIOS, 4 CPUs) and show the log; QEMU's exit status
# 33 means every test passed, 35 a failure, 37 an error, 39 a panic.
run: $(BUILD)/run.iso
	$(Q)$(QEMU_RUN); st=$$?; echo "qemu exit status $$st"; [ $$st -eq 33 ]

check: all kunit netboot
	$(Q)$(PYTHON) tools/runner.py --group default --keep-going --junit $(BUILD)/check.junit.xml --json $(BUILD)/check.json

# Every seeded bug and every safety-matrix cell on Bochs, on three CPU
# models (tools/bochs/scenarios.py writes them); about an hour here.
check-bochs: all kunit
	$(Q)$(PYTHON) tools/runner.py --group bochs --keep-going --junit $(BUILD)/check-bochs.junit.xml --json $(BUILD)/check-bochs.json

soak: all
	$(Q)$(PYTHON) tools/runner.py --group soak

# The firmware x machine x CPU-model matrix and the large-memory boots.
hardware: all
	$(Q)$(PYTHON) tools/runner.py --group hardware --keep-going

# Mutation testing (README: Mutation testing): every mutant of
# tools/mutants.toml built in a copy of the tree under build/mutate/ and
# booted with its scenario, after a baseline boot of each scenario with
# the unmutated kernel; fails when fewer than 90% of the non-equivalent
# mutants are caught within 60 s. The tool builds its own copies, so
# nothing is built here beyond the host packages (deps).
# MUTATE_ARGS goes to tools/mutate.py, e.g. MUTATE_ARGS="--only ID -j 1".
MUTATE_ARGS ?=
mutate: deps
	$(Q)$(PYTHON) tools/mutate.py --seeds 3 --min-score 90 $(MUTATE_ARGS)

# The bench scenarios (group bench) one at a time, then ratios, plots and
# build/bench/summary.md (see README, Benchmarks). The plots need matplotlib:
# the bench runs under the first of BENCH_PYTHONS that can import it. When
# none can and this runs as root, Debian's python3-matplotlib (a module of
# /usr/bin/python3) is installed first, like tools/deps.sh does; otherwise
# the apt-get line is printed and plain SVG line plots are drawn.
# BENCH_ARGS goes to tools/bench.py, e.g. BENCH_ARGS="--from-runs build/runs".
BENCH_ARGS ?=
BENCH_PYTHONS ?= $(PYTHON) /usr/bin/python3
# Prints the first of BENCH_PYTHONS that has matplotlib, or nothing.
MPL_PYTHON = for p in $(BENCH_PYTHONS); do \
	  command -v $$p >/dev/null 2>&1 && $$p tools/bench.py --have-matplotlib && { echo $$p; break; }; \
	done; true
# The init of the Linux comparison (README, Benchmarks): a Linux program,
# built by the host's compiler with its C library, none of CFLAGS.
#  -static               the initramfs holds this file alone: no loader, no libc.so
#  -O2                   the loops around the timed accesses as cheap as the kernel suite's
#  -pthread              remote CPUs, faulters and the writer are threads of one process
#  -Wall -Wextra -Werror warnings are bugs here too
# Without a static C library (libc6-dev) it is not built and `make bench`
# skips the comparison, saying why.
HOSTCC ?= gcc
LINUX_INIT := $(BUILD)/linux-bench/init
$(LINUX_INIT): tests/linux-bench/bench.c Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $<")
	$(Q)$(HOSTCC) -static -O2 -pthread -Wall -Wextra -Werror -o $@ $<

bench: all
	$(Q)$(MAKE) --no-print-directory $(LINUX_INIT) || \
	  echo "mmtorture: could not build $(LINUX_INIT); the Linux comparison will be skipped" >&2
	$(Q)py=$$($(MPL_PYTHON)); \
	if [ -z "$$py" ] && [ "$$(id -u)" = 0 ] && ! dpkg -s python3-matplotlib >/dev/null 2>&1; then \
	  echo "mmtorture: installing python3-matplotlib for the plots"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -qq update || \
	    echo "mmtorture: apt-get update failed; trying the install anyway" >&2; \
	  apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -qq install -y --no-install-recommends \
	    python3-matplotlib || echo "mmtorture: could not install python3-matplotlib" >&2; \
	  py=$$($(MPL_PYTHON)); \
	fi; \
	if [ -z "$$py" ]; then \
	  py=$(PYTHON); \
	  echo "mmtorture: none of $(BENCH_PYTHONS) can import matplotlib, so the plots are plain SVG line plots;" \
	    "for real ones: sudo apt-get install -y python3-matplotlib" >&2; \
	elif [ "$$py" != "$(PYTHON)" ]; then \
	  echo "mmtorture: the bench runs under $$py, which has matplotlib for the plots"; \
	fi; \
	$$py tools/bench.py $(BENCH_ARGS)

# LAVA (README: LAVA): the images a LAVA job boots, the jobs checked
# against lava-common's schema, and the QEMU job run for real under
# lava-dispatcher's lava-run; prints the LAVA test cases. Not part of
# check. LAVA is Debian's, a module of /usr/bin/python3.
LAVA_PYTHON ?= /usr/bin/python3
LAVA_ARGS ?=
lava: all
	$(Q)sh tools/deps.sh lava
	$(Q)$(LAVA_PYTHON) tools/lava.py run $(LAVA_ARGS)

debug: $(BUILD)/run.iso
	@echo "QEMU is halted with a gdb stub on :1234. In another terminal:"
	@echo "  gdb $(ELF) -ex 'target remote :1234'"
	$(Q)$(QEMU_RUN) -s -S

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(USER_LIB_OBJS:.o=.d) $(USER_PROGS:%=$(BUILD)/user/%.d)
