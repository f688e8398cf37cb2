/*
 * fs-bench: the file-system workload of bench/fs (issue 11), run the same
 * way on the host in a directory and in a Linux guest on a 9p share of
 * that directory, so the two sides do the same system calls on the same
 * files.
 *
 *   fs-bench prepare DIR MBYTES ENTRIES   (on the host, before either side)
 *   fs-bench run DIR MBYTES FILES         (the measured workload)
 *   fs-bench check DIR MBYTES             (on the host, after each side)
 *
 * `prepare` writes `read.dat` (MBYTES MiB of the pattern below) and
 * `dirents/` with ENTRIES empty files. `check` verifies the write.dat that
 * `run` wrote, then removes it. `run`
 *   1. reads read.dat sequentially in 1 MiB requests and checks the
 *      pattern of every byte;
 *   2. writes write.dat (MBYTES MiB of the same pattern) in 1 MiB requests,
 *      then fsync()s and closes it; bench/fs checks it on the host;
 *   3. creates, stats and unlinks FILES empty files in small/ (each file:
 *      open(O_CREAT|O_EXCL), close, stat, unlink);
 *   4. lists dirents/ with getdents64 and counts its entries.
 * `run` prints one line, `fs-bench {json}`, with each phase's seconds and
 * counts (CLOCK_MONOTONIC), and exits non-zero on any error or mismatch.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static void die(const char *what, const char *path) {
	fprintf(stderr, "fs-bench: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The pattern of read.dat and write.dat.
 * Each little-endian 64-bit word is its byte offset times an odd constant,
 * so a block read from the wrong offset or a torn write shows. */
static void fill(uint64_t *words, uint64_t offset) {
	for (size_t i = 0; i < CHUNK / 8; i++) words[i] = (offset + i * 8) * 0x9e3779b97f4a7c15ull;
}

static int matches(const uint64_t *words, uint64_t offset) {
	for (size_t i = 0; i < CHUNK / 8; i++)
		if (words[i] != (offset + i * 8) * 0x9e3779b97f4a7c15ull) return 0;
	return 1;
}

static void join(char *out, size_t size, const char *dir, const char *name) {
	if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size) {
		fprintf(stderr, "fs-bench: path too long\n");
		exit(2);
	}
}

static double sequential_read(const char *path, uint64_t bytes, uint64_t *buf) {
	int fd = open(path, O_RDONLY);
	if (fd < 0) die("open", path);
	double t0 = now();
	for (uint64_t off = 0; off < bytes; off += CHUNK) {
		size_t done = 0;
		while (done < CHUNK) {
			ssize_t n = read(fd, (char *)buf + done, CHUNK - done);
			if (n < 0) die("read", path);
			if (n == 0) { fprintf(stderr, "fs-bench: %s is short\n", path); exit(1); }
			done += (size_t)n;
		}
		if (!matches(buf, off)) { fprintf(stderr, "fs-bench: %s differs at MiB %llu\n", path, (unsigned long long)(off >> 20)); exit(1); }
	}
	double t = now() - t0;
	close(fd);
	return t;
}

static double sequential_write(const char *path, uint64_t bytes, uint64_t *buf) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) die("create", path);
	double t0 = now();
	for (uint64_t off = 0; off < bytes; off += CHUNK) {
		fill(buf, off);
		size_t done = 0;
		while (done < CHUNK) {
			ssize_t n = write(fd, (char *)buf + done, CHUNK - done);
			if (n < 0) die("write", path);
			done += (size_t)n;
		}
	}
	if (fsync(fd) != 0) die("fsync", path);
	if (close(fd) != 0) die("close", path);
	return now() - t0;
}

static double small_files(const char *dir, long count) {
	char path[4096];
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) die("mkdir", dir);
	double t0 = now();
	for (long i = 0; i < count; i++) {
		char name[32];
		snprintf(name, sizeof name, "f%06ld", i);
		join(path, sizeof path, dir, name);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) die("create", path);
		close(fd);
		struct stat st;
		if (stat(path, &st) != 0) die("stat", path);
		if (st.st_size != 0) { fprintf(stderr, "fs-bench: %s is not empty\n", path); exit(1); }
		if (unlink(path) != 0) die("unlink", path);
	}
	double t = now() - t0;
	if (rmdir(dir) != 0) die("rmdir", dir);
	return t;
}

static double list_entries(const char *dir, long *count) {
	static char buf[1 << 16];
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0) die("open", dir);
	long entries = 0;
	double t0 = now();
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n < 0) die("getdents64", dir);
		if (n == 0) break;
		for (long at = 0; at < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + at);
			if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0) entries++;
			at += d->d_reclen;
		}
	}
	double t = now() - t0;
	close(fd);
	*count = entries;
	return t;
}

static long parse(const char *text, long max, const char *what) {
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || value <= 0 || value > max) {
		fprintf(stderr, "fs-bench: %s must be 1-%ld, got %s\n", what, max, text);
		exit(2);
	}
	return value;
}

static void prepare(const char *dir, uint64_t bytes, long entries, uint64_t *buf) {
	char path[4096];
	join(path, sizeof path, dir, "read.dat");
	sequential_write(path, bytes, buf);
	join(path, sizeof path, dir, "dirents");
	if (mkdir(path, 0755) != 0) die("mkdir", path);
	char file[4096];
	for (long i = 0; i < entries; i++) {
		char name[32];
		snprintf(name, sizeof name, "entry-%06ld", i);
		join(file, sizeof file, path, name);
		int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) die("create", file);
		close(fd);
	}
}

static void check(const char *dir, uint64_t bytes, uint64_t *buf) {
	char path[4096];
	join(path, sizeof path, dir, "write.dat");
	struct stat st;
	if (stat(path, &st) != 0) die("stat", path);
	if ((uint64_t)st.st_size != bytes) {
		fprintf(stderr, "fs-bench: %s has %lld bytes, not %llu\n", path, (long long)st.st_size, (unsigned long long)bytes);
		exit(1);
	}
	sequential_read(path, bytes, buf);
	if (unlink(path) != 0) die("unlink", path);
}

int main(int argc, char **argv) {
	if (argc < 4 || (strcmp(argv[1], "check") == 0 ? argc != 4 : argc != 5) ||
	    (strcmp(argv[1], "prepare") != 0 && strcmp(argv[1], "run") != 0 && strcmp(argv[1], "check") != 0)) {
		fprintf(stderr, "usage: fs-bench prepare DIR MBYTES ENTRIES | run DIR MBYTES FILES | check DIR MBYTES\n");
		return 2;
	}
	const char *mode = argv[1], *dir = argv[2];
	long mbytes = parse(argv[3], 4096, "MBYTES");
	uint64_t bytes = (uint64_t)mbytes << 20;
	uint64_t *buf = aligned_alloc(4096, CHUNK);
	if (!buf) die("allocate", "buffer");
	if (strcmp(mode, "prepare") == 0) {
		prepare(dir, bytes, parse(argv[4], 1000000, "ENTRIES"), buf);
		return 0;
	}
	if (strcmp(mode, "check") == 0) {
		check(dir, bytes, buf);
		return 0;
	}
	long files = parse(argv[4], 1000000, "FILES");
	char path[4096];

	join(path, sizeof path, dir, "read.dat");
	double read_s = sequential_read(path, bytes, buf);
	join(path, sizeof path, dir, "write.dat");
	double write_s = sequential_write(path, bytes, buf);
	join(path, sizeof path, dir, "small");
	double small_s = small_files(path, files);
	long entries = 0;
	join(path, sizeof path, dir, "dirents");
	double list_s = list_entries(path, &entries);

	printf("fs-bench {\"mbytes\":%ld,\"readSeconds\":%.6f,\"writeSeconds\":%.6f,"
	       "\"files\":%ld,\"smallFilesSeconds\":%.6f,\"entries\":%ld,\"readdirSeconds\":%.6f}\n",
	       mbytes, read_s, write_s, files, small_s, entries, list_s);
	return 0;
}
