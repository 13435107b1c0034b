/* test_output.c - rf_output's rules: regular files replaced atomically with the right mode,
 * symbolic links followed, devices, FIFOs and /proc/self/fd links written in place and never
 * replaced. Everything happens inside one temporary folder: device nodes are made there (as
 * root) with mknod, never taken from /dev. */
#define _DEFAULT_SOURCE /* mknod, makedev */
#include "retinaface_tools.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static const char *at(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* Writes text to path through rf_output; status of the close. */
static rf_status write_text(const char *path, const char *text, rf_error *err)
{
    rf_output out;
    rf_status st = rf_output_open(&out, path, err);
    if (st != RF_OK)
        return st;
    fputs(text, out.f);
    return rf_output_close(&out, RF_OK, err);
}

static int file_is(const char *path, const char *text)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(text) && memcmp(buf, text, n) == 0;
}

static void put_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

/* Names in dir other than those given: a temporary file left behind shows here. */
static int strays(const char *const *keep, int n)
{
    DIR *d = opendir(dir);
    int count = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int known = 0;
        for (int i = 0; i < n; i++)
            known |= !strcmp(e->d_name, keep[i]);
        if (!known) {
            fprintf(stderr, "  stray file: %s\n", e->d_name);
            count++;
        }
    }
    closedir(d);
    return count;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_mode : 0;
}

static void test_regular_files(void)
{
    rf_error err;
    mode_t old_mask = umask(022);
    CHECK(write_text(at("new.json"), "one", &err) == RF_OK, "%s", err.message);
    CHECK(file_is(at("new.json"), "one"), "contents");
    CHECK((mode_of(at("new.json")) & 07777) == 0644, "new file mode %o",
          mode_of(at("new.json")) & 07777);
    umask(027);
    CHECK(write_text(at("new2.json"), "two", &err) == RF_OK, "%s", err.message);
    CHECK((mode_of(at("new2.json")) & 07777) == 0640, "umask 027: mode %o",
          mode_of(at("new2.json")) & 07777);
    umask(022);

    /* an existing file keeps its mode */
    put_file(at("old.txt"), "before", 0604);
    CHECK(write_text(at("old.txt"), "after", &err) == RF_OK, "%s", err.message);
    CHECK(file_is(at("old.txt"), "after"), "replaced contents");
    CHECK((mode_of(at("old.txt")) & 07777) == 0604, "kept mode %o", mode_of(at("old.txt")) & 07777);

    /* a writer that fails leaves the previous file and no temporary one */
    rf_output out;
    CHECK(rf_output_open(&out, at("old.txt"), &err) == RF_OK, "%s", err.message);
    fputs("half", out.f);
    fflush(out.f);
    CHECK(file_is(at("old.txt"), "after"), "not visible before close");
    CHECK(rf_output_close(&out, RF_E_FORMAT, &err) == RF_E_FORMAT, "status passed through");
    CHECK(file_is(at("old.txt"), "after"), "a failed write keeps the previous file");
    const char *keep[] = {"new.json", "new2.json", "old.txt"};
    CHECK(strays(keep, 3) == 0, "no temporary file left");

    /* a directory and a missing folder are refused, naming the path */
    mkdir(at("adir"), 0755);
    CHECK(write_text(at("adir"), "x", &err) == RF_E_IO && strstr(err.message, "adir"),
          "directory: %s", err.message);
    CHECK(write_text(at("nodir/x.json"), "x", &err) == RF_E_IO &&
              strstr(err.message, "nodir/x.json"), "missing folder: %s", err.message);
    if (geteuid() != 0) {
        put_file(at("ro.txt"), "mine", 0444);
        CHECK(write_text(at("ro.txt"), "x", &err) == RF_E_IO && file_is(at("ro.txt"), "mine"),
              "a read-only file is not replaced: %s", err.message);
    }
    umask(old_mask);
}

static void test_links(void)
{
    rf_error err;
    put_file(at("target.json"), "old", 0600);
    CHECK(symlink("target.json", at("link.json")) == 0, "symlink");
    CHECK(write_text(at("link.json"), "via link", &err) == RF_OK, "%s", err.message);
    CHECK(S_ISLNK(mode_of(at("link.json"))), "the link stays a link");
    CHECK(file_is(at("target.json"), "via link"), "its target is written");
    CHECK((mode_of(at("target.json")) & 07777) == 0600, "target keeps its mode");

    /* a chain of links, one relative to a subfolder, ending at a name not there yet */
    mkdir(at("sub"), 0755);
    CHECK(symlink("../sub/final.json", at("sub/inner")) == 0, "symlink");
    CHECK(symlink("sub/inner", at("outer")) == 0, "symlink");
    CHECK(write_text(at("outer"), "chained", &err) == RF_OK, "%s", err.message);
    CHECK(S_ISLNK(mode_of(at("outer"))) && S_ISLNK(mode_of(at("sub/inner"))), "links stay");
    CHECK(file_is(at("sub/final.json"), "chained"), "a dangling link's target is created");

    /* a loop is an error, not a hang */
    CHECK(symlink("loop2", at("loop1")) == 0 && symlink("loop1", at("loop2")) == 0, "symlink");
    CHECK(write_text(at("loop1"), "x", &err) == RF_E_IO && strstr(err.message, "loop1"),
          "link loop: %s", err.message);
}

/* A child that reads the FIFO (or pipe) and checks what arrives. */
static pid_t reader(const char *path, int fd, int other_end, const char *expect)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (other_end >= 0)
            close(other_end);
        if (path)
            fd = open(path, O_RDONLY);
        char buf[256] = {0};
        size_t got = 0;
        for (ssize_t n; fd >= 0 && got < sizeof buf - 1 &&
                        (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0;)
            got += (size_t)n;
        _exit(got == strlen(expect) && memcmp(buf, expect, got) == 0 ? 0 : 1);
    }
    return pid;
}

static int reaped_ok(pid_t pid)
{
    int status = 0;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_fifo_and_fds(void)
{
    rf_error err;
    CHECK(mkfifo(at("out.fifo"), 0644) == 0, "mkfifo");
    pid_t pid = reader(at("out.fifo"), -1, -1, "through the fifo");
    CHECK(write_text(at("out.fifo"), "through the fifo", &err) == RF_OK, "%s", err.message);
    CHECK(reaped_ok(pid), "the FIFO's reader got the text");
    CHECK(S_ISFIFO(mode_of(at("out.fifo"))), "the FIFO is still a FIFO");

    /* a reader that goes away: EPIPE, reported with the path */
    pid = fork();
    if (pid == 0) {
        int fd = open(at("out.fifo"), O_RDONLY);
        _exit(fd >= 0 ? 0 : 1);
    }
    rf_output out;
    CHECK(rf_output_open(&out, at("out.fifo"), &err) == RF_OK, "%s", err.message);
    CHECK(reaped_ok(pid), "reader opened and left");
    for (int i = 0; i < 100000; i++)
        fputs("data that nobody reads ", out.f);
    CHECK(rf_output_close(&out, RF_OK, &err) == RF_E_IO && strstr(err.message, "out.fifo") &&
              strstr(err.message, strerror(EPIPE)), "closed FIFO: %s", err.message);
    CHECK(S_ISFIFO(mode_of(at("out.fifo"))), "still a FIFO");

    /* a link to /proc/self/fd/N, which is what /dev/stdout is: the open file gets the text */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", p[1]);
    CHECK(symlink(fdpath, at("stdout-like")) == 0, "symlink");
    pid = reader(NULL, p[0], p[1], "to the pipe");
    close(p[0]);
    CHECK(write_text(at("stdout-like"), "to the pipe", &err) == RF_OK, "%s", err.message);
    close(p[1]);
    CHECK(reaped_ok(pid), "the pipe's reader got the text");
    CHECK(S_ISLNK(mode_of(at("stdout-like"))), "the link is not replaced");

    /* a regular file behind /proc/self/fd/N (a redirection) is appended to, not replaced */
    put_file(at("redirected.txt"), "kept ", 0644);
    int fd = open(at("redirected.txt"), O_WRONLY | O_APPEND);
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    struct stat before, after;
    stat(at("redirected.txt"), &before);
    CHECK(write_text(fdpath, "added", &err) == RF_OK, "%s", err.message);
    stat(at("redirected.txt"), &after);
    close(fd);
    CHECK(file_is(at("redirected.txt"), "kept added"), "appended through the fd");
    CHECK(before.st_ino == after.st_ino, "the same file, not a replacement");
}

/* As root: device nodes made here with mknod behave like /dev/null and /dev/full. */
static void test_devices(void)
{
    if (geteuid() != 0) {
        printf("SKIP device-node cases: mknod needs root\n");
        return;
    }
    rf_error err;
    if (mknod(at("null"), S_IFCHR | 0666, makedev(1, 3)) != 0 ||
        mknod(at("full"), S_IFCHR | 0666, makedev(1, 7)) != 0) {
        printf("SKIP device-node cases: mknod failed here: %s\n", strerror(errno));
        return;
    }
    int probe = open(at("null"), O_WRONLY);
    if (probe < 0) {
        printf("SKIP device-node cases: this file system does not open devices (%s)\n",
               strerror(errno));
        return;
    }
    close(probe);
    CHECK(write_text(at("null"), "discarded", &err) == RF_OK, "%s", err.message);
    CHECK(S_ISCHR(mode_of(at("null"))), "the null device is still a device");
    CHECK(symlink("null", at("null-link")) == 0, "symlink");
    CHECK(write_text(at("null-link"), "discarded", &err) == RF_OK, "%s", err.message);
    CHECK(S_ISCHR(mode_of(at("null"))) && S_ISLNK(mode_of(at("null-link"))), "both kept");

    CHECK(write_text(at("full"), "no room", &err) == RF_E_IO && strstr(err.message, "full") &&
              strstr(err.message, strerror(ENOSPC)), "full device: %s", err.message);
    CHECK(S_ISCHR(mode_of(at("full"))), "the full device is still a device");
}

int main(void)
{
    /* as the retinaface command does: a reader that leaves is a write error, not a signal */
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "%s/rf_output_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_regular_files();
    test_links();
    test_fifo_and_fds();
    test_devices();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}
