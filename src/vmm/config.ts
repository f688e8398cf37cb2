/** What `tkvm run` builds: the whole description of one VM. */
export interface VmConfig {
  /** Path to a bzImage or ELF vmlinux (or a freestanding test guest ELF). */
  kernelPath: string;
  initrdPath?: string | undefined;
  cmdline: string;
  cpus: number;
  /** Guest RAM in bytes, a multiple of 4 KiB. */
  memBytes: number;
  /** Optional VM name (control socket); default guest-<pid>. */
  name?: string | undefined;
  /** Adds the echo devices the integration-test guests talk to. */
  testDevices?: boolean;
  /**
   * Adds the debug-exit port 0x501 (as QEMU's opt-in isa-debug-exit): a
   * guest write of V ends tkvm with status (V << 1) | 1. Without it no
   * guest can choose tkvm's exit status through a port.
   */
  debugExit?: boolean;
  /**
   * The guest is the default guest kit (its kernel and its init): only then
   * do the init's console markers (TKVM_EXIT_STATUS=n) count. Any other
   * guest's output passes through untouched and cannot set the exit status.
   */
  guestProtocol?: boolean;
  /** Prints a JSON timing/exit report on stderr at exit (used by bench/). */
  reportTiming?: boolean;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** virtio-blk disks, in PCI slot order. */
  disks?: DiskConfig[];
  /** virtio-net NICs, in PCI slot order (empty or absent: none). */
  nics?: NicConfig[];
  /** Host directories shared over virtio-9p, in PCI slot order (empty or absent: none). */
  shares?: ShareConfig[];
  /** A virtio-rng device fed from the host's getrandom. */
  rng?: boolean;
  /**
   * A guest command's stdin, stdout and stderr travel on their own
   * multiport virtio-console (vmm/exec-streams.ts), connected to tkvm's:
   * the guest console then goes to tkvm's stderr and takes no input.
   * Set with `--exec` and by `tkvm sandbox`.
   */
  execStreams?: boolean;
  /** Which device carries the guest console: the COM1 UART (default) or virtio-console (hvc0). */
  console?: 'serial' | 'virtio';
  /** Host compatibility mode: auto detects a PVM host (see src/vmm/compat). */
  compat?: 'auto' | 'none' | 'pvm';
}

/** A host port forwarded to a guest port (user-mode networking: passt -t/-u). */
export interface PortForward {
  protocol: 'tcp' | 'udp';
  hostAddress: string;
  hostPort: number;
  guestPort: number;
}

export interface NicConfig {
  /** user: passt (user-mode networking); tap: a TAP device. */
  backend: 'user' | 'tap';
  /** TAP interface name (tap only; absent: tkvm creates one). */
  ifname?: string | undefined;
  /** `aa:bb:cc:dd:ee:ff`; absent: 52:54:00:12:34:(0x56 + index). */
  mac?: string | undefined;
  /** Port forwards (user only). */
  ports: PortForward[];
  /** Whether passt gives the guest DNS servers and a search list (user only; default true). */
  dns: boolean;
  /** The NIC nobody asked for (the default guest's): a missing passt is a warning, not an error. */
  implicit?: boolean;
  /**
   * A static IPv4 address `A.B.C.D/PREFIX` the default guest kit's init
   * gives this NIC instead of DHCP (tap only: `--net tap,ip=`); it reaches
   * init on the kernel command line (tkvm.ip=).
   */
  ip?: string | undefined;
  /** The default route's gateway with `ip` (`--net tap,ip=...,gw=`). */
  gateway?: string | undefined;
}

/** A host directory the guest mounts over virtio-9p (`--share HOSTDIR[,tag=TAG][,ro]`). */
export interface ShareConfig {
  /** The exported host directory (absolute path). */
  hostPath: string;
  /** The mount tag the guest sees (VIRTIO_9P_MOUNT_TAG); the default guest mounts it at /mnt/TAG. */
  tag: string;
  /** Every change fails with EROFS. */
  readOnly: boolean;
}

export interface DiskConfig {
  path: string;
  readOnly: boolean;
  /** The ID the guest reads with VIRTIO_BLK_T_GET_ID (at most 20 bytes). */
  serial?: string | undefined;
}

/**
 * Exit statuses of `tkvm run` (documented in README.md):
 * 0 guest powered off, reset or the user quit with Ctrl-A x;
 * (V << 1) | 1 the guest wrote V to the debug-exit port 0x501;
 * 1 a VMM error before or while running; 2 a usage error;
 * 4 triple fault; 6 KVM internal/emulation error; 8 KVM entry failure;
 * 10 the guest kernel panicked (pvpanic);
 * 128+N a host signal N (130 SIGINT, 143 SIGTERM), or 141 when the reader
 * of a guest command's stdout went away.
 */
export const ExitStatus = {
  POWEROFF: 0,
  ERROR: 1,
  USAGE: 2,
  TRIPLE_FAULT: 4,
  INTERNAL_ERROR: 6,
  FAIL_ENTRY: 8,
  GUEST_PANIC: 10,
  SIGINT: 130,
  /** The reader of a guest command's stdout went away (EPIPE), as SIGPIPE would end the command. */
  SIGPIPE: 141,
  SIGTERM: 143,
} as const;
