/*
 * syscall-test: exercises the system-call paths of a Linux guest from user
 * space (static, glibc). On PVM hosts every one of these goes through the
 * guest kernel's SYSCALL fix-up (guest/kernel/patches/0001-*, docs/pvm.md),
 * so this checks that entry, exit, fork/clone return, signal delivery and
 * both system-call restart paths behave as with a real SYSCALL.
 *
 * Usage:
 *   syscall-test              run every test; prints "syscall-test: NAME ok"
 *                             or "syscall-test: NAME FAIL why" per test and
 *                             "syscall-test: all ok" (exit 0) or
 *                             "syscall-test: N failed" (exit 1)
 *   syscall-test bench N      N getpid system calls; prints ns per call
 *   syscall-test lstar ADDR   jump to ADDR (the guest's LSTAR, hex) as if a
 *                             SYSCALL had landed there, with hostile RCX/R11
 *                             (IOPL 3, NT, IF clear): with the fix-up the
 *                             getpid must complete and none of those flags
 *                             may reach user space
 *   syscall-test exec-child   used by the execve test (exits with 33)
 *
 * Build: make -C test/guests-linux (gcc -static -O2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXEC_CHILD_STATUS 33
/* Each test must finish within this many seconds (the guest kernel may be emulated). */
#define TEST_WATCHDOG_SECONDS 300

static int failures;

/* Writes one line with write(2): no stdio buffer to duplicate across fork. */
static void say(const char *format, ...)
{
	char line[512];
	va_list args;
	va_start(args, format);
	int length = vsnprintf(line, sizeof line - 1, format, args);
	va_end(args);
	if (length < 0)
		return;
	if ((size_t)length > sizeof line - 2)
		length = sizeof line - 2;
	line[length++] = '\n';
	for (int done = 0; done < length;) {
		ssize_t n = write(STDOUT_FILENO, line + done, (size_t)(length - done));
		if (n <= 0)
			return;
		done += (int)n;
	}
}

/* A test returns NULL on success, else a short reason. */
typedef const char *(*test_fn)(void);

static void run_test(const char *name, test_fn fn)
{
	alarm(TEST_WATCHDOG_SECONDS);
	const char *why = fn();
	alarm(0);
	if (why == NULL) {
		say("syscall-test: %s ok", name);
	} else {
		failures++;
		say("syscall-test: %s FAIL %s (errno %d: %s)", name, why, errno, strerror(errno));
	}
}

static long raw_syscall0(long nr)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

static uint64_t monotonic_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* State letter of process `pid` from /proc/PID/stat ('S' = sleeping), or 0. */
static char process_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	return paren != NULL && paren[1] == ' ' ? paren[2] : 0;
}

/* Waits (polling) until `pid` sleeps while *flag is set; false if the flag drops first. */
static bool wait_until_sleeping(pid_t pid, volatile int *flag)
{
	for (;;) {
		if (!*flag)
			return false;
		if (process_state(pid) == 'S' && *flag)
			return true;
		usleep(1000);
	}
}

/* Shared between parent and child (MAP_SHARED), for the signal tests. */
struct shared_state {
	volatile int parent_blocked; /* set by the parent around the blocking call */
};

static struct shared_state *map_shared(void)
{
	void *p = mmap(NULL, sizeof(struct shared_state), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* ---------------------------------------------------------------- tests */

static const char *test_getpid(void)
{
	long raw = raw_syscall0(SYS_getpid);
	if (raw <= 0)
		return "raw getpid returned <= 0";
	if (raw != getpid())
		return "raw getpid differs from getpid()";
	return NULL;
}

/* SYSCALL semantics visible to user space: RCX = next RIP, R11 = RFLAGS, flags kept. */
static const char *test_syscall_registers(void)
{
	long ret;
	uint64_t rcx, r11, expected_rcx, flags_after;
	__asm__ volatile(
		"lea 1f(%%rip), %[expected]\n\t"
		"std\n\t"
		"syscall\n"
		"1:\n\t"
		"pushfq\n\t"
		"popq %[flags]\n\t"
		"cld\n\t"
		"movq %%r11, %[r11]"
		: "=a"(ret), "=c"(rcx), [r11] "=r"(r11), [expected] "=&r"(expected_rcx), [flags] "=r"(flags_after)
		: "a"((long)SYS_getpid)
		: "r11", "memory", "cc");
	if (ret != getpid())
		return "getpid result wrong";
	if (rcx != expected_rcx)
		return "RCX is not the address after SYSCALL";
	if (!(flags_after & 0x400))
		return "DF (set before SYSCALL) was lost";
	if (!(flags_after & 0x200))
		return "IF clear in user space";
	if (flags_after & 0x3000)
		return "IOPL non-zero in user space";
	if (!(r11 & 0x200) || !(r11 & 0x400))
		return r11 & 0x200 ? "R11 lacks DF (the user RFLAGS)" : "R11 lacks IF (the user RFLAGS)";
	return NULL;
}

static const char *test_bad_syscall_number(void)
{
	if (raw_syscall0(100000) != -ENOSYS)
		return "syscall 100000 did not return -ENOSYS";
	if (raw_syscall0(-1) != -ENOSYS)
		return "syscall -1 did not return -ENOSYS";
	return NULL;
}

static const char *test_pipe_write_read(void)
{
	int fds[2];
	char buf[16] = { 0 };
	if (pipe(fds) != 0)
		return "pipe";
	if (write(fds[1], "hello", 5) != 5)
		return "write";
	if (read(fds[0], buf, sizeof buf) != 5 || memcmp(buf, "hello", 5) != 0)
		return "read returned other data";
	close(fds[0]);
	close(fds[1]);
	return NULL;
}

static const char *test_fork_wait(void)
{
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0)
		return "fork";
	if (child == 0)
		_exit(getppid() == parent ? 42 : 1);
	int status;
	if (waitpid(child, &status, 0) != child)
		return "waitpid";
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 42)
		return "child did not exit with 42 (or saw the wrong parent)";
	return NULL;
}

static void *thread_body(void *arg)
{
	*(long *)arg = syscall(SYS_gettid);
	return arg;
}

static const char *test_thread(void)
{
	pthread_t thread;
	long tid = 0;
	void *result;
	if (pthread_create(&thread, NULL, thread_body, &tid) != 0)
		return "pthread_create (clone)";
	if (pthread_join(thread, &result) != 0 || result != &tid)
		return "pthread_join (futex)";
	if (tid <= 0 || tid == syscall(SYS_gettid))
		return "thread has no tid of its own";
	return NULL;
}

static const char *test_mmap_munmap(void)
{
	const size_t size = 1 << 20;
	unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return "mmap";
	for (size_t i = 0; i < size; i += 4096)
		p[i] = (unsigned char)(i >> 12);
	for (size_t i = 0; i < size; i += 4096)
		if (p[i] != (unsigned char)(i >> 12))
			return "mapped memory lost a write";
	if (munmap(p, size) != 0)
		return "munmap";
	if (msync(p, 4096, MS_ASYNC) == 0 || errno != ENOMEM)
		return "page still mapped after munmap";
	return NULL;
}

static volatile sig_atomic_t handler_runs;
static int ack_fd = -1;

static void on_sigusr1(int signo)
{
	(void)signo;
	handler_runs++;
	if (ack_fd >= 0) {
		char c = 'a';
		(void)write(ack_fd, &c, 1);
	}
}

/*
 * A blocking pipe read interrupted by a signal whose handler has
 * SA_RESTART (restart = true: the read is restarted, by re-executing the
 * SYSCALL, and completes with the data) or not (read fails with EINTR).
 * The child sends the signal only once the parent sleeps in the read, and
 * writes the data only after the handler has run.
 */
static const char *interrupted_read(bool restart)
{
	int data[2], ack[2];
	struct shared_state *shared = map_shared();
	if (shared == NULL)
		return "mmap shared";
	if (pipe(data) != 0 || pipe(ack) != 0)
		return "pipe";
	struct sigaction action = { .sa_handler = on_sigusr1, .sa_flags = restart ? SA_RESTART : 0 };
	sigemptyset(&action.sa_mask);
	if (sigaction(SIGUSR1, &action, NULL) != 0)
		return "sigaction";
	handler_runs = 0;
	ack_fd = ack[1];
	shared->parent_blocked = 1;

	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0)
		return "fork";
	if (child == 0) {
		char c;
		if (!wait_until_sleeping(parent, &shared->parent_blocked))
			_exit(2);
		if (kill(parent, SIGUSR1) != 0 || read(ack[0], &c, 1) != 1)
			_exit(3);
		_exit(write(data[1], "restarted", 9) == 9 ? 0 : 4);
	}

	char buf[16] = { 0 };
	ssize_t n = read(data[0], buf, sizeof buf);
	int read_errno = errno;
	shared->parent_blocked = 0;
	ack_fd = -1;
	int status;
	if (waitpid(child, &status, 0) != child)
		return "waitpid";
	signal(SIGUSR1, SIG_DFL);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return "child could not interrupt the read";
	if (handler_runs != 1)
		return "handler did not run exactly once";
	if (restart) {
		if (n != 9 || memcmp(buf, "restarted", 9) != 0)
			return "read was not restarted after the handler";
	} else {
		if (n != -1 || read_errno != EINTR)
			return "read did not fail with EINTR";
	}
	close(data[0]);
	close(data[1]);
	close(ack[0]);
	close(ack[1]);
	munmap(shared, sizeof *shared);
	return NULL;
}

static const char *test_read_sa_restart(void) { return interrupted_read(true); }
static const char *test_read_eintr(void) { return interrupted_read(false); }

/*
 * nanosleep stopped and continued (SIGSTOP/SIGCONT, no handler) is resumed
 * through restart_syscall (-ERESTART_RESTARTBLOCK) and sleeps its full time.
 */
static const char *test_nanosleep_restart(void)
{
	const uint64_t sleep_ns = 1000000000u;
	struct shared_state *shared = map_shared();
	if (shared == NULL)
		return "mmap shared";
	shared->parent_blocked = 1;
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0)
		return "fork";
	if (child == 0) {
		if (!wait_until_sleeping(parent, &shared->parent_blocked))
			_exit(2);
		kill(parent, SIGSTOP);
		usleep(20000);
		kill(parent, SIGCONT);
		/* Still inside the sleep after SIGCONT: the interruption was real. */
		_exit(shared->parent_blocked ? 0 : 3);
	}
	struct timespec request = { .tv_sec = (time_t)(sleep_ns / 1000000000u), .tv_nsec = 0 };
	uint64_t start = monotonic_ns();
	int rc = nanosleep(&request, NULL);
	uint64_t elapsed = monotonic_ns() - start;
	shared->parent_blocked = 0;
	int status;
	if (waitpid(child, &status, 0) != child)
		return "waitpid";
	munmap(shared, sizeof *shared);
	if (rc != 0)
		return "nanosleep failed";
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return "child could not stop the sleep in time (inconclusive)";
	if (elapsed < sleep_ns)
		return "nanosleep returned early";
	return NULL;
}

static const char *self_path;

static const char *test_execve(void)
{
	pid_t child = fork();
	if (child < 0)
		return "fork";
	if (child == 0) {
		char *argv[] = { "syscall-test", "exec-child", NULL };
		char *envp[] = { "SYSCALL_TEST_EXEC=1", NULL };
		execve("/proc/self/exe", argv, envp);
		execve(self_path, argv, envp);
		_exit(127);
	}
	int status;
	if (waitpid(child, &status, 0) != child)
		return "waitpid";
	if (!WIFEXITED(status) || WEXITSTATUS(status) != EXEC_CHILD_STATUS)
		return "exec'd program did not exit with 33";
	return NULL;
}

/* ---------------------------------------------------------------- modes */

static int bench(long count)
{
	if (count <= 0) {
		say("syscall-test: bench needs a positive count");
		return 2;
	}
	raw_syscall0(SYS_getpid);
	uint64_t start = monotonic_ns();
	for (long i = 0; i < count; i++)
		raw_syscall0(SYS_getpid);
	uint64_t elapsed = monotonic_ns() - start;
	say("syscall-test: bench getpid calls=%ld total_ns=%llu ns_per_call=%llu", count,
	    (unsigned long long)elapsed, (unsigned long long)(elapsed / (uint64_t)count));
	return 0;
}

/* Enters `lstar` directly with R11 = IOPL 3 | NT | AC, IF clear, and RCX = the next instruction. */
static int lstar_jump(const char *address_text)
{
	uint64_t lstar = strtoull(address_text, NULL, 16);
	uint64_t hostile_r11 = 0x3000 | 0x4000 | 0x40000 | 0x2; /* IOPL=3, NT, AC, fixed bit; IF clear */
	long ret;
	uint64_t flags_after;
	register uint64_t r11 __asm__("r11") = hostile_r11;
	__asm__ volatile(
		"lea 1f(%%rip), %%rcx\n\t"
		"jmp *%[target]\n"
		"1:\n\t"
		"pushfq\n\t"
		"popq %[flags]\n\t"
		"pushq $0x202\n\t"
		"popfq"
		: "=a"(ret), [flags] "=r"(flags_after), "+r"(r11)
		: "a"((long)SYS_getpid), [target] "r"(lstar)
		: "rcx", "memory", "cc");
	bool ok = ret == getpid() && (flags_after & 0x3000) == 0 && (flags_after & 0x4000) == 0 && (flags_after & 0x200) != 0;
	say("syscall-test: lstar-jump %s getpid=%ld rflags=%#llx (IOPL %llu, NT %d, IF %d, AC %d)", ok ? "ok" : "FAIL", ret,
	    (unsigned long long)flags_after, (unsigned long long)((flags_after >> 12) & 3), !!(flags_after & 0x4000),
	    !!(flags_after & 0x200), !!(flags_after & 0x40000));
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	self_path = argv[0];
	if (argc >= 2 && strcmp(argv[1], "exec-child") == 0)
		return getenv("SYSCALL_TEST_EXEC") != NULL ? EXEC_CHILD_STATUS : 1;
	if (argc >= 3 && strcmp(argv[1], "bench") == 0)
		return bench(strtol(argv[2], NULL, 10));
	if (argc >= 3 && strcmp(argv[1], "lstar") == 0)
		return lstar_jump(argv[2]);
	if (argc != 1) {
		say("usage: syscall-test [bench N | lstar HEXADDR]");
		return 2;
	}

	run_test("getpid", test_getpid);
	run_test("syscall-registers", test_syscall_registers);
	run_test("bad-syscall-number", test_bad_syscall_number);
	run_test("pipe-write-read", test_pipe_write_read);
	run_test("mmap-munmap", test_mmap_munmap);
	run_test("fork-wait", test_fork_wait);
	run_test("thread-clone-futex", test_thread);
	run_test("read-sa-restart", test_read_sa_restart);
	run_test("read-eintr", test_read_eintr);
	run_test("nanosleep-restart", test_nanosleep_restart);
	run_test("execve", test_execve);

	if (failures == 0) {
		say("syscall-test: all ok");
		return 0;
	}
	say("syscall-test: %d failed", failures);
	return 1;
}
