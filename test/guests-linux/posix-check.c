/*
 * posix-check DIR: the POSIX file-system behaviour a shared directory must
 * get right (issue 11; the cases that broke apt and friends on kvmtool's
 * 9p), run in a scratch directory created inside DIR. Prints one line per
 * check, "ok NAME", "FAIL NAME: detail" or "skip NAME: reason" (ownership
 * checks need root), and exits with the number of failures. Run the same
 * binary on the host and in a guest on a share: the lines must match.
 *
 * Kept lean in system calls: on hosts that emulate the guest kernel every
 * call is slow (the 1,500-entry directory is the one big loop).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static int failures;
static char fail_detail[512];

/* Records why the current check failed; returns -1 so checks can `return fail(...)`. */
static int fail(const char *format, ...)
{
	va_list args;
	va_start(args, format);
	vsnprintf(fail_detail, sizeof fail_detail, format, args);
	va_end(args);
	return -1;
}

#define FAIL_ERRNO(what) fail("%s: %s", what, strerror(errno))
#define SKIP 1

static const char *skip_reason;

static void run(const char *name, int (*check)(void))
{
	fail_detail[0] = 0;
	skip_reason = NULL;
	int result = check();
	if (result == 0)
		printf("ok %s\n", name);
	else if (result == SKIP)
		printf("skip %s: %s\n", name, skip_reason);
	else {
		printf("FAIL %s: %s\n", name, fail_detail);
		failures++;
	}
	fflush(stdout);
}

static int skip(const char *reason)
{
	skip_reason = reason;
	return SKIP;
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)len ? 0 : -1;
}

/* Reads up to cap bytes of path into buf; returns the length or -1. */
static ssize_t read_file(const char *path, void *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, (char *)buf + got, cap - got);
		if (n <= 0) {
			close(fd);
			return n < 0 ? -1 : (ssize_t)got;
		}
		got += n;
		if (got == cap) {
			close(fd);
			return got;
		}
	}
}

#define MIB (1 << 20)

static int check_write_read_1mib(void)
{
	static unsigned char out[MIB], in[MIB + 1];
	for (size_t i = 0; i < MIB; i++)
		out[i] = (unsigned char)(i * 131 + (i >> 12));
	int fd = open("big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return FAIL_ERRNO("open");
	for (size_t done = 0; done < MIB;) {
		ssize_t n = write(fd, out + done, MIB - done);
		if (n <= 0) {
			close(fd);
			return FAIL_ERRNO("write");
		}
		done += n;
	}
	if (fsync(fd) != 0 || close(fd) != 0)
		return FAIL_ERRNO("fsync/close");
	ssize_t got = read_file("big", in, sizeof in);
	if (got != MIB)
		return fail("read back %zd bytes, wrote %d", got, MIB);
	if (memcmp(in, out, MIB) != 0)
		return fail("read back different bytes");
	return unlink("big") == 0 ? 0 : FAIL_ERRNO("unlink");
}

/* The apt case: a file that is open and unlinked keeps working through its fd. */
static int check_open_unlink_fstat(void)
{
	int fd = open("doomed", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return FAIL_ERRNO("open");
	int result = 0;
	struct stat st;
	char buf[16];
	if (write(fd, "0123456789abcdef", 16) != 16)
		result = FAIL_ERRNO("write");
	else if (unlink("doomed") != 0)
		result = FAIL_ERRNO("unlink");
	else if (access("doomed", F_OK) == 0 || errno != ENOENT)
		result = fail("the name is still there after unlink");
	else if (fstat(fd, &st) != 0)
		result = FAIL_ERRNO("fstat after unlink");
	else if (st.st_size != 16 || st.st_nlink != 0)
		result = fail("fstat after unlink: size %lld nlink %lu, want 16 and 0", (long long)st.st_size, (unsigned long)st.st_nlink);
	else if (ftruncate(fd, 10) != 0)
		result = FAIL_ERRNO("ftruncate after unlink");
	else if (pread(fd, buf, sizeof buf, 4) != 6 || memcmp(buf, "456789", 6) != 0)
		result = fail("pread after unlink and ftruncate did not return 456789");
	else if (pwrite(fd, "XY", 2, 20) != 2 || fstat(fd, &st) != 0 || st.st_size != 22)
		result = fail("pwrite after unlink: size %lld, want 22", (long long)st.st_size);
	close(fd);
	return result;
}

static int check_rename_over(void)
{
	char buf[8];
	if (write_file("rename-a", "AAAA", 4) != 0 || write_file("rename-b", "BB", 2) != 0)
		return FAIL_ERRNO("create");
	if (rename("rename-a", "rename-b") != 0)
		return FAIL_ERRNO("rename over an existing file");
	if (access("rename-a", F_OK) == 0 || errno != ENOENT)
		return fail("the old name is still there");
	if (read_file("rename-b", buf, sizeof buf) != 4 || memcmp(buf, "AAAA", 4) != 0)
		return fail("the target does not hold the renamed file's data");
	return unlink("rename-b") == 0 ? 0 : FAIL_ERRNO("unlink");
}

static int check_hard_links(void)
{
	struct stat a, b;
	if (write_file("link-a", "x", 1) != 0 || link("link-a", "link-b") != 0)
		return FAIL_ERRNO("link");
	if (stat("link-a", &a) != 0 || stat("link-b", &b) != 0)
		return FAIL_ERRNO("stat");
	if (a.st_nlink != 2 || b.st_nlink != 2 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		return fail("nlink %lu/%lu ino %llu/%llu, want 2/2 and one inode", (unsigned long)a.st_nlink, (unsigned long)b.st_nlink,
			    (unsigned long long)a.st_ino, (unsigned long long)b.st_ino);
	if (unlink("link-a") != 0 || stat("link-b", &b) != 0)
		return FAIL_ERRNO("unlink one name");
	if (b.st_nlink != 1)
		return fail("nlink %lu after unlinking one name, want 1", (unsigned long)b.st_nlink);
	return unlink("link-b") == 0 ? 0 : FAIL_ERRNO("unlink");
}

static int check_symlinks(void)
{
	char target[64];
	struct stat st;
	if (write_file("sym-target", "hello", 5) != 0 || symlink("sym-target", "sym") != 0)
		return FAIL_ERRNO("symlink");
	ssize_t n = readlink("sym", target, sizeof target);
	if (n != 10 || memcmp(target, "sym-target", 10) != 0)
		return fail("readlink gave %zd bytes", n);
	if (lstat("sym", &st) != 0 || !S_ISLNK(st.st_mode) || st.st_size != 10)
		return fail("lstat: not a 10-byte symlink");
	if (stat("sym", &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 5)
		return fail("stat through the link: not the 5-byte target");
	if (symlink("dangling-nowhere", "sym-dangling") != 0 || stat("sym-dangling", &st) == 0 || errno != ENOENT)
		return fail("a dangling symlink does not give ENOENT");
	if (unlink("sym") != 0 || unlink("sym-dangling") != 0 || unlink("sym-target") != 0)
		return FAIL_ERRNO("unlink");
	return 0;
}

static int check_chmod(void)
{
	struct stat st;
	if (write_file("mode", "", 0) != 0)
		return FAIL_ERRNO("create");
	if (chmod("mode", 0640) != 0 || stat("mode", &st) != 0 || (st.st_mode & 07777) != 0640)
		return fail("mode %o after chmod 0640", st.st_mode & 07777);
	if (chmod("mode", 0755) != 0 || stat("mode", &st) != 0 || (st.st_mode & 07777) != 0755)
		return fail("mode %o after chmod 0755", st.st_mode & 07777);
	return unlink("mode") == 0 ? 0 : FAIL_ERRNO("unlink");
}

/* Runs fn in a child as uid/gid and returns its exit status (or -1). */
static int as_user(uid_t uid, gid_t gid, int (*fn)(void))
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
			_exit(100);
		_exit(fn());
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* As a user who owns neither the sticky directory nor the file: unlink must fail with EPERM. */
static int unlink_others_file(void)
{
	if (unlink("sticky/theirs") == 0)
		return 1;
	return errno == EPERM || errno == EACCES ? 0 : 2;
}

/* As the file's owner: unlink in the sticky directory works. */
static int unlink_own_file(void)
{
	return unlink("sticky/theirs") == 0 ? 0 : 1;
}

static int check_sticky_directory(void)
{
	struct stat st;
	if (mkdir("sticky", 0777) != 0 || chmod("sticky", 01777) != 0)
		return FAIL_ERRNO("mkdir sticky");
	if (stat("sticky", &st) != 0 || (st.st_mode & 07777) != 01777)
		return fail("mode %o, want 1777 (the sticky bit was lost)", st.st_mode & 07777);
	int result = 0;
	if (geteuid() == 0) {
		if (write_file("sticky/theirs", "", 0) != 0 || chown("sticky/theirs", 60001, 60001) != 0 || chmod("sticky/theirs", 0666) != 0)
			result = FAIL_ERRNO("create a file for uid 60001");
		else if (as_user(60002, 60002, unlink_others_file) != 0)
			result = fail("another user could unlink a file in a sticky directory");
		else if (as_user(60001, 60001, unlink_own_file) != 0)
			result = fail("the owner could not unlink its file in a sticky directory");
	}
	if (rmdir("sticky") != 0 && result == 0)
		result = FAIL_ERRNO("rmdir");
	return result;
}

static int check_chown_lchown(void)
{
	if (geteuid() != 0)
		return skip("not root: ownership changes fail as they would for this user");
	struct stat st;
	if (write_file("owned", "", 0) != 0 || symlink("owned", "owned-link") != 0)
		return FAIL_ERRNO("create");
	if (chown("owned", 1234, 5678) != 0 || stat("owned", &st) != 0 || st.st_uid != 1234 || st.st_gid != 5678)
		return fail("chown: owner %u:%u, want 1234:5678", (unsigned)st.st_uid, (unsigned)st.st_gid);
	if (lchown("owned-link", 4321, 8765) != 0 || lstat("owned-link", &st) != 0 || st.st_uid != 4321 || st.st_gid != 8765)
		return fail("lchown: link owner %u:%u, want 4321:8765", (unsigned)st.st_uid, (unsigned)st.st_gid);
	if (stat("owned", &st) != 0 || st.st_uid != 1234)
		return fail("lchown changed the link's target");
	if (unlink("owned-link") != 0 || unlink("owned") != 0)
		return FAIL_ERRNO("unlink");
	return 0;
}

#define ENTRIES 1500

static int check_readdir_1500(void)
{
	char name[32];
	static unsigned char seen[ENTRIES];
	memset(seen, 0, sizeof seen);
	if (mkdir("many", 0755) != 0)
		return FAIL_ERRNO("mkdir");
	for (int i = 0; i < ENTRIES; i++) {
		snprintf(name, sizeof name, "many/entry-%04d", i);
		int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			return fail("create %s: %s", name, strerror(errno));
		close(fd);
	}
	DIR *dir = opendir("many");
	if (!dir)
		return FAIL_ERRNO("opendir");
	int count = 0, bad = 0;
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		int index;
		char tail;
		if (sscanf(entry->d_name, "entry-%4d%c", &index, &tail) != 1 || index < 0 || index >= ENTRIES || seen[index]) {
			bad++;
			continue;
		}
		seen[index] = 1;
		count++;
	}
	closedir(dir);
	if (count != ENTRIES || bad != 0)
		return fail("readdir found %d of %d names and %d unexpected or repeated ones", count, ENTRIES, bad);
	for (int i = 0; i < ENTRIES; i++) {
		snprintf(name, sizeof name, "many/entry-%04d", i);
		if (unlink(name) != 0)
			return fail("unlink %s: %s", name, strerror(errno));
	}
	return rmdir("many") == 0 ? 0 : FAIL_ERRNO("rmdir");
}

static int check_errors(void)
{
	struct stat st;
	if (write_file("exists", "", 0) != 0)
		return FAIL_ERRNO("create");
	if (open("exists", O_WRONLY | O_CREAT | O_EXCL, 0644) >= 0 || errno != EEXIST)
		return fail("O_EXCL on an existing file: %s, want EEXIST", strerror(errno));
	if (mkdir("full", 0755) != 0 || write_file("full/inside", "", 0) != 0)
		return FAIL_ERRNO("mkdir");
	if (rmdir("full") == 0 || errno != ENOTEMPTY)
		return fail("rmdir of a non-empty directory: %s, want ENOTEMPTY", strerror(errno));
	if (open("missing", O_RDONLY) >= 0 || errno != ENOENT || stat("missing/below", &st) == 0 || errno != ENOENT)
		return fail("a missing file: %s, want ENOENT", strerror(errno));
	if (unlink("full/inside") != 0 || rmdir("full") != 0 || unlink("exists") != 0)
		return FAIL_ERRNO("clean up");
	return 0;
}

static int check_truncate(void)
{
	struct stat st;
	char buf[8];
	if (write_file("trunc", "abcdef", 6) != 0)
		return FAIL_ERRNO("create");
	if (truncate("trunc", 3) != 0 || stat("trunc", &st) != 0 || st.st_size != 3)
		return fail("truncate to 3: size %lld", (long long)st.st_size);
	if (truncate("trunc", 8) != 0 || read_file("trunc", buf, sizeof buf) != 8 || memcmp(buf, "abc\0\0\0\0\0", 8) != 0)
		return fail("truncate to 8 did not extend with zeros");
	return unlink("trunc") == 0 ? 0 : FAIL_ERRNO("unlink");
}

static int check_utimensat(void)
{
	struct stat st;
	const struct timespec times[2] = {{1000000000, 123456789}, {1234567890, 987654321}};
	if (write_file("times", "", 0) != 0)
		return FAIL_ERRNO("create");
	if (utimensat(AT_FDCWD, "times", times, 0) != 0 || stat("times", &st) != 0)
		return FAIL_ERRNO("utimensat");
	if (st.st_atim.tv_sec != times[0].tv_sec || st.st_atim.tv_nsec != times[0].tv_nsec || st.st_mtim.tv_sec != times[1].tv_sec ||
	    st.st_mtim.tv_nsec != times[1].tv_nsec)
		return fail("atime %lld.%09ld mtime %lld.%09ld", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec,
			    st.st_mtim.tv_nsec);
	return unlink("times") == 0 ? 0 : FAIL_ERRNO("unlink");
}

static int check_mkfifo(void)
{
	struct stat st;
	if (mkfifo("fifo", 0600) != 0 || lstat("fifo", &st) != 0 || !S_ISFIFO(st.st_mode))
		return fail("mkfifo: %s", strerror(errno));
	return unlink("fifo") == 0 ? 0 : FAIL_ERRNO("unlink");
}

static int check_statfs(void)
{
	struct statfs fs;
	if (statfs(".", &fs) != 0)
		return FAIL_ERRNO("statfs");
	if (fs.f_bsize <= 0 || fs.f_blocks == 0 || fs.f_bfree > fs.f_blocks || fs.f_namelen < 255)
		return fail("bsize %ld blocks %llu free %llu namelen %ld", (long)fs.f_bsize, (unsigned long long)fs.f_blocks,
			    (unsigned long long)fs.f_bfree, (long)fs.f_namelen);
	return 0;
}

static int check_user_xattrs(void)
{
	char value[32], list[256];
	if (write_file("xattr", "", 0) != 0)
		return FAIL_ERRNO("create");
	if (setxattr("xattr", "user.tkvm", "va\0lue", 6, XATTR_CREATE) != 0)
		return FAIL_ERRNO("setxattr");
	if (setxattr("xattr", "user.tkvm", "x", 1, XATTR_CREATE) == 0 || errno != EEXIST)
		return fail("XATTR_CREATE on an existing attribute: %s, want EEXIST", strerror(errno));
	if (getxattr("xattr", "user.tkvm", value, sizeof value) != 6 || memcmp(value, "va\0lue", 6) != 0)
		return fail("getxattr did not return the 6 bytes set");
	ssize_t n = listxattr("xattr", list, sizeof list);
	int listed = 0;
	for (ssize_t at = 0; n > 0 && at < n; at += strlen(list + at) + 1)
		listed |= strcmp(list + at, "user.tkvm") == 0;
	if (!listed)
		return fail("listxattr does not name user.tkvm");
	if (removexattr("xattr", "user.tkvm") != 0 || getxattr("xattr", "user.tkvm", value, sizeof value) >= 0 || errno != ENODATA)
		return fail("after removexattr: %s, want ENODATA", strerror(errno));
	return unlink("xattr") == 0 ? 0 : FAIL_ERRNO("unlink");
}

/* Child, while the parent holds a write lock on bytes 0-9: what it sees and may take. */
static int child_fcntl_view(void)
{
	int fd = open("locks", O_RDWR);
	if (fd < 0)
		return 10;
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	if (fcntl(fd, F_GETLK, &lock) != 0)
		return 11;
	if (lock.l_type != F_WRLCK || lock.l_pid != getppid() || lock.l_start != 0 || lock.l_len != 10)
		return 12;
	struct flock mine = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
	if (fcntl(fd, F_SETLK, &mine) == 0 || (errno != EAGAIN && errno != EACCES))
		return 13;
	struct flock beyond = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 5};
	if (fcntl(fd, F_SETLK, &beyond) != 0)
		return 14;
	return 0;
}

/* Child, while the parent holds flock(LOCK_EX): a second exclusive flock must not be granted. */
static int child_flock_view(void)
{
	int fd = open("locks", O_RDWR);
	if (fd < 0)
		return 10;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		return 15;
	return 0;
}

/* Runs `view` in a child; a message naming the failed step, or 0. */
static int child_check(int (*view)(void))
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(view());
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return fail("the child did not run");
	if (WEXITSTATUS(status) != 0)
		return fail("child check %d failed (11 F_GETLK, 12 lock not seen, 13 conflict allowed, 14 free range refused, 15 flock conflict allowed)",
			    WEXITSTATUS(status));
	return 0;
}

/*
 * fcntl byte-range locks, then flock, one after the other. Not both at once
 * on one file: Linux's 9p client turns flock into a whole-file POSIX lock
 * of another owner, so a blocking flock over one's own fcntl lock waits
 * for ever there (a v9fs limit, docs/devices.md).
 */
static int check_locks(void)
{
	if (write_file("locks", "0123456789abcdef", 16) != 0)
		return FAIL_ERRNO("create");
	int fd = open("locks", O_RDWR);
	if (fd < 0)
		return FAIL_ERRNO("open");
	int result = 0;
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	if (fcntl(fd, F_SETLK, &lock) != 0)
		result = FAIL_ERRNO("F_SETLK");
	else {
		result = child_check(child_fcntl_view);
		lock.l_type = F_UNLCK;
		if (fcntl(fd, F_SETLK, &lock) != 0 && result == 0)
			result = FAIL_ERRNO("F_UNLCK");
	}
	if (result == 0) {
		if (flock(fd, LOCK_EX) != 0)
			result = FAIL_ERRNO("flock");
		else {
			result = child_check(child_flock_view);
			if (flock(fd, LOCK_UN) != 0 && result == 0)
				result = FAIL_ERRNO("LOCK_UN");
		}
	}
	close(fd);
	if (unlink("locks") != 0 && result == 0)
		result = FAIL_ERRNO("unlink");
	return result;
}

static int check_o_append(void)
{
	char buf[16];
	if (write_file("append", "start", 5) != 0)
		return FAIL_ERRNO("create");
	int fd = open("append", O_WRONLY | O_APPEND);
	int other = open("append", O_WRONLY);
	if (fd < 0 || other < 0)
		return FAIL_ERRNO("open");
	/* "START" over "start" at 0, "++" at the plain fd's offset 0, "-end" at the end through O_APPEND. */
	int ok = pwrite(other, "START", 5, 0) == 5 && write(other, "++", 2) == 2 && write(fd, "-end", 4) == 4 && lseek(fd, 0, SEEK_CUR) == 9;
	close(fd);
	close(other);
	if (!ok)
		return fail("writes through O_APPEND and a plain fd failed or the O_APPEND offset is not 9");
	ssize_t n = read_file("append", buf, sizeof buf);
	if (n != 9 || memcmp(buf, "++ART-end", 9) != 0)
		return fail("content %.*s, want ++ART-end", n > 0 ? (int)n : 0, buf);
	return unlink("append") == 0 ? 0 : FAIL_ERRNO("unlink");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: posix-check DIR\n");
		return 255;
	}
	char scratch[4096];
	snprintf(scratch, sizeof scratch, "%s/posix-check.%d", argv[1], (int)getpid());
	if (mkdir(scratch, 0755) != 0 || chdir(scratch) != 0) {
		fprintf(stderr, "posix-check: cannot use %s: %s\n", scratch, strerror(errno));
		return 255;
	}
	umask(022);
	run("write-read-1MiB", check_write_read_1mib);
	run("open-unlink-fstat-ftruncate-pread", check_open_unlink_fstat);
	run("rename-over-existing", check_rename_over);
	run("hard-links-nlink", check_hard_links);
	run("symlink-readlink-lstat", check_symlinks);
	run("chmod", check_chmod);
	run("sticky-directory", check_sticky_directory);
	run("chown-lchown", check_chown_lchown);
	run("readdir-1500", check_readdir_1500);
	run("o_excl-enotempty-enoent", check_errors);
	run("truncate", check_truncate);
	run("utimensat-nanoseconds", check_utimensat);
	run("mkfifo", check_mkfifo);
	run("statfs", check_statfs);
	run("user-xattrs", check_user_xattrs);
	run("fcntl-and-flock-locks", check_locks);
	run("o_append", check_o_append);
	if (chdir("..") != 0 || rmdir(scratch) != 0) {
		printf("FAIL cleanup: %s\n", strerror(errno));
		failures++;
	}
	printf("posix-check: %d failures\n", failures);
	return failures > 254 ? 254 : failures;
}
