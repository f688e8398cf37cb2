/*
 * kvm-loop: the baseline for bench/exit-cost. A minimal, single-vCPU KVM
 * runner in C that boots a freestanding ELF64 test guest the same way tkvm
 * does (64-bit direct entry, Linux x86 boot protocol zero page) and serves
 * the same port-I/O exits, so that tkvm's per-exit cost can be compared
 * with the cost of the bare KVM_RUN round trip.
 *
 * Usage: kvm-loop GUEST.elf [CMDLINE]
 *
 * Guest RAM: 64 MiB at guest-physical 0 (one memory slot). Boot layout
 * (same addresses tkvm uses):
 *   0x0500  GDT: null, null, 64-bit code (0x10), data (0x18)
 *   0x7000  zero page (struct boot_params); cmd_line_ptr at offset 0x228
 *           (Documentation/arch/x86/boot.rst, "The Linux/x86 Boot Protocol")
 *   0x8ff0  initial stack pointer
 *   0x9000  PML4, 0xA000 PDPT, 0xB000-0xEFFF four page directories of
 *           2 MiB pages identity-mapping the first 4 GiB
 *   0x20000 kernel command line
 *
 * Port I/O served (anything else ends the run with status 1):
 *   out 0x80          counted (the exits being measured)
 *   0x510-0x513       the test echo device: writes store bytes, reads return
 *                     them; writes are counted like port 0x80 (path=echo)
 *   0x3f8-0x3ff       a 16550 UART reduced to what a polling writer needs:
 *                     THR writes go to stderr, LSR (0x3fd) reads 0x60
 *                     (THR empty, transmitter empty), other registers read 0
 *                     and ignore writes
 *   out 0x501         debug exit: the process exits with (value << 1) | 1
 *
 * At exit it prints one JSON line on stdout:
 *   {"kvmLoop":{"exits":E,"pioExits":P,"startToFirstRunNs":S,
 *               "runLoopNs":R,"totalNs":T}}
 * exits = all KVM_RUN returns, pioExits = outs to port 0x80 or to the echo device, S = main()
 * entry to the first KVM_RUN, R = first KVM_RUN to the end of the loop,
 * T = main() entry to the end of the loop (CLOCK_MONOTONIC).
 *
 * Exit statuses follow tkvm's: (v << 1) | 1 for debug exit, 1 VMM error,
 * 2 usage, 4 triple fault, 6 internal/emulation error, 8 entry failure.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (64ull << 20)
#define GDT_ADDR 0x500ull
#define ZERO_PAGE_ADDR 0x7000ull
#define ZERO_PAGE_CMD_LINE_PTR 0x228u
#define STACK_TOP 0x8ff0ull
#define PML4_ADDR 0x9000ull
#define PDPT_ADDR 0xa000ull
#define PD_ADDR 0xb000ull
#define CMDLINE_ADDR 0x20000ull
#define CMDLINE_MAX 4096u

#define PORT_POST 0x80
#define PORT_UART_BASE 0x3f8
#define PORT_ECHO_BASE 0x510
#define PORT_UART_LSR 0x3fd
#define PORT_DEBUG_EXIT 0x501
#define UART_LSR_THRE_TEMT 0x60

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noreturn, format(printf, 2, 3)))
static void die(int status, const char *fmt, ...) {
  va_list ap;
  fputs("kvm-loop: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(status);
}

static int kvm_ioctl(int fd, unsigned long request, void *arg, const char *what) {
  int ret = ioctl(fd, request, arg);
  if (ret < 0) die(1, "%s: %s", what, strerror(errno));
  return ret;
}

/* Copies the PT_LOAD segments of a static ELF64 x86-64 image to their
 * physical addresses; returns the entry point. (System V gABI, ELF-64.) */
static uint64_t load_elf(const char *path, uint8_t *mem) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(1, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) die(1, "%s: %s", path, strerror(errno));
  size_t size = (size_t)st.st_size;
  if (size < sizeof(Elf64_Ehdr)) die(1, "%s: too small for an ELF header", path);
  const uint8_t *file = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (file == MAP_FAILED) die(1, "%s: mmap: %s", path, strerror(errno));
  close(fd);

  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)file;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
    die(1, "%s: not an ELF64 x86-64 little-endian image", path);
  if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > size ||
      (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
    die(1, "%s: program header table out of bounds", path);

  const Elf64_Phdr *ph = (const Elf64_Phdr *)(file + eh->e_phoff);
  int loaded = 0;
  for (unsigned i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_LOAD) continue;
    uint64_t paddr = ph[i].p_paddr, filesz = ph[i].p_filesz, memsz = ph[i].p_memsz;
    if (filesz > memsz || ph[i].p_offset > size || filesz > size - ph[i].p_offset)
      die(1, "%s: segment %u: file range out of bounds", path, i);
    if (paddr > MEM_SIZE || memsz > MEM_SIZE - paddr)
      die(1, "%s: segment %u: 0x%llx+0x%llx outside guest RAM", path, i,
          (unsigned long long)paddr, (unsigned long long)memsz);
    memcpy(mem + paddr, file + ph[i].p_offset, filesz);
    memset(mem + paddr + filesz, 0, memsz - filesz);
    loaded++;
  }
  if (!loaded) die(1, "%s: no PT_LOAD segment", path);
  uint64_t entry = eh->e_entry;
  munmap((void *)file, size);
  return entry;
}

/* Identity map of 0-4 GiB with 2 MiB pages; a flat GDT; the zero page. */
static void build_boot_environment(uint8_t *mem, const char *cmdline) {
  uint64_t *gdt = (uint64_t *)(mem + GDT_ADDR);
  gdt[0] = 0;
  gdt[1] = 0;
  gdt[2] = 0x00af9b000000ffffull; /* code: P, DPL0, S, exec/read, accessed, L, G */
  gdt[3] = 0x00cf93000000ffffull; /* data: P, DPL0, S, read/write, accessed, D/B, G */

  uint64_t *pml4 = (uint64_t *)(mem + PML4_ADDR);
  uint64_t *pdpt = (uint64_t *)(mem + PDPT_ADDR);
  uint64_t *pd = (uint64_t *)(mem + PD_ADDR);
  memset(pml4, 0, 4096);
  memset(pdpt, 0, 4096);
  pml4[0] = PDPT_ADDR | 0x3; /* present, writable */
  for (uint64_t i = 0; i < 4; i++) pdpt[i] = (PD_ADDR + i * 4096) | 0x3;
  for (uint64_t i = 0; i < 4 * 512; i++) pd[i] = (i << 21) | 0x83; /* P, RW, PS */

  size_t len = strlen(cmdline);
  if (len >= CMDLINE_MAX) die(2, "command line longer than %u bytes", CMDLINE_MAX - 1);
  memset(mem + ZERO_PAGE_ADDR, 0, 4096);
  uint32_t ptr = (uint32_t)CMDLINE_ADDR;
  memcpy(mem + ZERO_PAGE_ADDR + ZERO_PAGE_CMD_LINE_PTR, &ptr, sizeof ptr);
  memcpy(mem + CMDLINE_ADDR, cmdline, len + 1);
}

static void set_segment(struct kvm_segment *seg, uint16_t selector, uint8_t type, uint8_t l,
                        uint8_t db) {
  memset(seg, 0, sizeof *seg);
  seg->base = 0;
  seg->limit = 0xffffffff;
  seg->selector = selector;
  seg->type = type;
  seg->present = 1;
  seg->dpl = 0;
  seg->db = db;
  seg->s = 1;
  seg->l = l;
  seg->g = 1;
}

static void setup_vcpu(int kvm, int vcpu, uint64_t entry) {
  /* Give the guest the host's supported CPUID (long mode needs CPUID.LM). */
  int nent = 256;
  struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + nent * sizeof(struct kvm_cpuid_entry2));
  if (!cpuid) die(1, "out of memory");
  cpuid->nent = nent;
  kvm_ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid, "KVM_GET_SUPPORTED_CPUID");
  kvm_ioctl(vcpu, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");
  free(cpuid);

  struct kvm_sregs sregs;
  kvm_ioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
  set_segment(&sregs.cs, 0x10, 0xb, 1, 0);
  set_segment(&sregs.ds, 0x18, 0x3, 0, 1);
  sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
  sregs.gdt.base = GDT_ADDR;
  sregs.gdt.limit = 4 * 8 - 1;
  sregs.idt.base = 0;
  sregs.idt.limit = 0;
  sregs.cr0 = 0x80050033; /* PG, AM, WP, NE, ET, MP, PE */
  sregs.cr3 = PML4_ADDR;
  sregs.cr4 = 0x20;   /* PAE */
  sregs.efer = 0x500; /* LME, LMA */
  kvm_ioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rflags = 0x2;
  regs.rip = entry;
  regs.rsp = STACK_TOP;
  regs.rsi = ZERO_PAGE_ADDR;
  kvm_ioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

static unsigned long long guest_rip(int vcpu) {
  struct kvm_regs regs;
  if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0) return ~0ull;
  return (unsigned long long)regs.rip;
}

int main(int argc, char **argv) {
  uint64_t t_start = now_ns();
  if (argc < 2 || argc > 3) die(2, "usage: kvm-loop GUEST.elf [CMDLINE]");
  const char *cmdline = argc == 3 ? argv[2] : "";

  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die(1, "/dev/kvm: %s", strerror(errno));
  if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) die(1, "unexpected KVM API version");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die(1, "KVM_CREATE_VM: %s", strerror(errno));

  uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) die(1, "mmap guest RAM: %s", strerror(errno));
  struct kvm_userspace_memory_region region = {
      .slot = 0, .flags = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
      .userspace_addr = (uint64_t)(uintptr_t)mem};
  kvm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

  uint64_t entry = load_elf(argv[1], mem);
  build_boot_environment(mem, cmdline);

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die(1, "KVM_CREATE_VCPU: %s", strerror(errno));
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run)) die(1, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
  struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die(1, "mmap kvm_run: %s", strerror(errno));
  setup_vcpu(kvm, vcpu, entry);

  uint64_t exits = 0, pio_exits = 0;
  uint8_t echo[4] = {0};
  int status = -1;
  uint64_t t_first_run = now_ns();
  while (status < 0) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die(1, "KVM_RUN: %s", strerror(errno));
    }
    exits++;
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      uint8_t *data = (uint8_t *)run + run->io.data_offset;
      uint16_t port = run->io.port;
      int out = run->io.direction == KVM_EXIT_IO_OUT;
      for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
        if (port == PORT_POST && out) {
          pio_exits++;
        } else if (port >= PORT_ECHO_BASE && port + run->io.size <= PORT_ECHO_BASE + 4) {
          if (out) {
            memcpy(echo + (port - PORT_ECHO_BASE), data, run->io.size);
            pio_exits++;
          } else {
            memcpy(data, echo + (port - PORT_ECHO_BASE), run->io.size);
          }
        } else if (port >= PORT_UART_BASE && port < PORT_UART_BASE + 8) {
          if (out) {
            if (port == PORT_UART_BASE) fputc(data[0], stderr);
          } else {
            memset(data, 0, run->io.size);
            if (port == PORT_UART_LSR) data[0] = UART_LSR_THRE_TEMT;
          }
        } else if (port == PORT_DEBUG_EXIT && out) {
          status = (data[0] << 1) | 1;
          break;
        } else {
          die(1, "unexpected port I/O: %s port 0x%x size %u at RIP 0x%llx", out ? "out" : "in",
              port, run->io.size, guest_rip(vcpu));
        }
      }
      break;
    }
    case KVM_EXIT_SHUTDOWN:
      die(4, "guest triple fault at RIP 0x%llx", guest_rip(vcpu));
    case KVM_EXIT_FAIL_ENTRY:
      die(8, "KVM entry failure, hardware reason 0x%llx",
          (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
    case KVM_EXIT_INTERNAL_ERROR: {
      fprintf(stderr, "kvm-loop: KVM internal error, suberror %u at RIP 0x%llx, data:",
              run->internal.suberror, guest_rip(vcpu));
      for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
        fprintf(stderr, " 0x%llx", (unsigned long long)run->internal.data[i]);
      fputc('\n', stderr);
      exit(6);
    }
    default:
      die(1, "unexpected exit reason %u at RIP 0x%llx", run->exit_reason, guest_rip(vcpu));
    }
  }
  uint64_t t_end = now_ns();

  printf("{\"kvmLoop\":{\"exits\":%llu,\"pioExits\":%llu,\"startToFirstRunNs\":%llu,"
         "\"runLoopNs\":%llu,\"totalNs\":%llu}}\n",
         (unsigned long long)exits, (unsigned long long)pio_exits,
         (unsigned long long)(t_first_run - t_start), (unsigned long long)(t_end - t_first_run),
         (unsigned long long)(t_end - t_start));
  fflush(stdout);
  return status;
}
