/*
 * io_truth.c - threads blocked in I/O where the tests say, and I/O whose
 * results are known (interpose/io.c).
 *
 *   io_truth wait OUT     four threads block for about 2 s each:
 *       "io-reader" in read() on a pipe (in io_read_blocker), "io-acceptor"
 *       in accept() on a listening TCP socket (io_accept_blocker),
 *       "io-receiver" in recv() on a socket pair (io_recv_blocker) and
 *       "io-chk-reader" in __read_chk(), what _FORTIFY_SOURCE turns read into
 *       (io_chk_blocker). The sockets have a receive timeout (SO_RCVTIMEO),
 *       with which a signal makes accept() and recv() fail with EINTR even
 *       under SA_RESTART (signal(7)). After 1 s the main thread writes the
 *       threads profile to OUT (scry_profile_write, found with dlsym), after
 *       2 s it releases them all. Each blocker measures its own blocked
 *       time. The main thread counts each one's voluntary context switches
 *       (/proc/self/task/TID/status) from the moment it is inside its system
 *       call (/proc/self/task/TID/syscall) to the release: a blocked thread
 *       switches only when something wakes it, such as a signal (it wakes,
 *       runs the handler and blocks again), so that count is the signals
 *       that reached it while blocked. The blocker's own count across the
 *       whole call (getrusage) is printed too: it adds the block itself and
 *       any lock the way in waited for. Prints "NAME rc R errno E blocked_ns
 *       N blocked_switches W call_switches S" per thread; exits 2 if any call
 *       failed (EINTR above all).
 *   io_truth check [OUT]  every interposed call once or more, with known
 *       bytes (checksums), errno on failures (EAGAIN, EBADF, ECONNREFUSED)
 *       and on success (left alone), a write from a signal handler that
 *       interrupts a blocking read, a handler on an alternate signal stack,
 *       and a thread cancelled in read. Then, if OUT is given, writes the
 *       threads profile there from io_dump_now: the main thread must not be
 *       left "in" an I/O wait. Prints "ok NAME" per check, "FAIL ..."
 *       and exits 1 on the first wrong result.
 *
 * Both print "read from: PATH", the object that `read` resolves to.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* glibc's _FORTIFY_SOURCE entry point (not declared without it). */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int write_threads_profile(const char *path)
{
    int (*write_profile)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_DEFAULT, "scry_profile_write");
    return write_profile ? write_profile("threads", path) : -1000;
}

static void print_read_origin(void)
{
    Dl_info info;
    void *f = dlsym(RTLD_DEFAULT, "read");
    printf("read from: %s\n", f && dladdr(f, &info) && info.dli_fname ? info.dli_fname : "?");
}

/* ---- wait ---- */

typedef struct {
    const char *name;
    long nr[2]; /* the system calls it blocks in */
    int fd;
    atomic_int tid;
    long long blocked_ns;
    long call_switches, blocked_switches;
    long rc;
    int err;
    char byte;
} blocker_t;

static blocker_t reader = {.name = "io-reader", .nr = {SYS_read, SYS_read}},
                 acceptor = {.name = "io-acceptor", .nr = {SYS_accept, SYS_accept4}},
                 receiver = {.name = "io-receiver", .nr = {SYS_recvfrom, SYS_recvfrom}},
                 chk_reader = {.name = "io-chk-reader", .nr = {SYS_read, SYS_read}};

/* Each blocker: says who it is, then makes the one call, timed from just
 * before to just after, with its own voluntary switches across it. */
#define BLOCK(b, call)                                                                             \
    do {                                                                                           \
        long s0 = switches();                                                                      \
        atomic_store(&(b)->tid, (int)syscall(SYS_gettid));                                         \
        long long t0 = now_ns();                                                                   \
        (b)->rc = (call);                                                                          \
        (b)->err = (b)->rc < 0 ? errno : 0;                                                        \
        (b)->blocked_ns = now_ns() - t0;                                                           \
        (b)->call_switches = switches() - s0;                                                      \
    } while (0)

__attribute__((noinline)) static void io_read_blocker(blocker_t *b)
{
    BLOCK(b, read(b->fd, &b->byte, 1));
    __asm__ volatile("");
}

__attribute__((noinline)) static void io_accept_blocker(blocker_t *b)
{
    BLOCK(b, accept(b->fd, NULL, NULL));
    __asm__ volatile("");
}

__attribute__((noinline)) static void io_recv_blocker(blocker_t *b)
{
    BLOCK(b, recv(b->fd, &b->byte, 1, 0));
    __asm__ volatile("");
}

__attribute__((noinline)) static void io_chk_blocker(blocker_t *b)
{
    BLOCK(b, __read_chk(b->fd, &b->byte, 1, 1));
    __asm__ volatile("");
}

static void *blocker_main(void *a)
{
    blocker_t *b = a;
    pthread_setname_np(pthread_self(), b->name);
    if (b == &reader) io_read_blocker(b);
    if (b == &acceptor) io_accept_blocker(b);
    if (b == &receiver) io_recv_blocker(b);
    if (b == &chk_reader) io_chk_blocker(b);
    return NULL;
}

/* The first number of /proc/self/task/TID/FILE's line starting with key
 * (the whole file when key is ""), or -1. */
static long proc_number(int tid, const char *file, const char *key)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/%s", tid, file);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    const char *at = *key ? strstr(buf, key) : buf;
    return at ? strtol(at + strlen(key), NULL, 10) : -1;
}

/* Whether the thread is inside one of b's system calls on b's own fd (so
 * past everything the wrapper does on the way in). The fd matters: taking
 * its own stack with the dwarf unwinder, the thread also reads, from
 * libunwind's address-validation pipe, and a window started in that read
 * would count the switches of the rest of the way in as wake-ups. */
static int in_call(blocker_t *b)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)atomic_load(&b->tid));
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *end;
    long nr = strtol(buf, &end, 10);
    long arg0 = strtol(end, NULL, 16); /* "NR 0xFD 0x... ..." */
    return (nr == b->nr[0] || nr == b->nr[1]) && arg0 == b->fd;
}

static long blocked_switches(blocker_t *b)
{
    return proc_number(b->tid, "status", "voluntary_ctxt_switches:");
}

static void set_rcvtimeo(int fd, int seconds)
{
    struct timeval tv = {seconds, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv)) {
        perror("setsockopt");
        exit(1);
    }
}

__attribute__((noinline)) static int io_dump_now(const char *out)
{
    int rc = write_threads_profile(out);
    __asm__ volatile("");
    return rc;
}

static int wait_mode(const char *out)
{
    int p[2], q[2], sv[2];
    if (pipe(p) || pipe(q) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return perror("pipe"), 1;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4) ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl))
        return perror("listen"), 1;
    set_rcvtimeo(lfd, 10);
    set_rcvtimeo(sv[0], 10);
    reader.fd = p[0];
    acceptor.fd = lfd;
    receiver.fd = sv[0];
    chk_reader.fd = q[0];
    blocker_t *all[] = {&reader, &acceptor, &receiver, &chk_reader};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, blocker_main, all[i])) return 1;
    /* From the moment each is in its system call to the release: the
     * switches in that window are the times it was woken while blocked. */
    for (int i = 0; i < 4; i++) {
        while (!atomic_load(&all[i]->tid))
            sleep_ms(1);
        for (int k = 0; !in_call(all[i]); k++) {
            if (k == 5000) return fprintf(stderr, "%s never blocked\n", all[i]->name), 1;
            sleep_ms(1);
        }
        all[i]->blocked_switches = -blocked_switches(all[i]);
    }
    sleep_ms(1000);
    int dumped = io_dump_now(out);
    sleep_ms(1000);
    for (int i = 0; i < 4; i++)
        all[i]->blocked_switches += blocked_switches(all[i]);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    if (write(p[1], "r", 1) != 1 || write(q[1], "c", 1) != 1 || send(sv[1], "s", 1, 0) != 1 ||
        connect(cfd, (struct sockaddr *)&sa, sizeof sa))
        return perror("release"), 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    print_read_origin();
    printf("dumped %d\n", dumped);
    int bad = dumped != 0;
    for (int i = 0; i < 4; i++) {
        blocker_t *b = all[i];
        printf("%s rc %ld errno %d blocked_ns %lld blocked_switches %ld call_switches %ld\n",
               b->name, b->rc, b->err, b->blocked_ns, b->blocked_switches, b->call_switches);
        if (b->rc < 0) {
            fprintf(stderr, "io_truth: %s: %s\n", b->name, strerror(b->err));
            bad = 1;
        }
    }
    if (reader.rc == 1 && reader.byte != 'r') bad = 1;
    if (chk_reader.rc == 1 && chk_reader.byte != 'c') bad = 1;
    if (receiver.rc == 1 && receiver.byte != 's') bad = 1;
    return bad ? 2 : 0;
}

/* ---- check ---- */

#define CHECK(name, cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s: %s (errno %d %s)\n", name, #cond, errno, strerror(errno));            \
            exit(1);                                                                               \
        }                                                                                          \
        printf("ok %s\n", name);                                                                   \
    } while (0)

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

#define FNV0 14695981039346656037ull

/* The n bytes of the known stream from position pos. */
static void pattern(unsigned char *b, size_t pos, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = (pos + i) * 0x9e3779b97f4a7c15ull;
        b[i] = (unsigned char)(x >> 56);
    }
}

#define STREAM (512u * 1024u)

typedef struct {
    int fd;
    int sock; /* send() instead of write() */
    uint64_t sum;
} feeder_t;

/* Writes the stream in chunks of 1 to 4000 bytes. */
static void *feed(void *a)
{
    feeder_t *f = a;
    unsigned char buf[4000];
    size_t pos = 0, k = 0;
    f->sum = FNV0;
    while (pos < STREAM) {
        size_t n = 1 + (k++ * 7919) % sizeof buf;
        if (n > STREAM - pos) n = STREAM - pos;
        pattern(buf, pos, n);
        ssize_t w = f->sock ? send(f->fd, buf, n, 0) : write(f->fd, buf, n);
        if (w <= 0) {
            perror("feed");
            exit(1);
        }
        f->sum = fnv(f->sum, buf, (size_t)w);
        pos += (size_t)w;
    }
    return NULL;
}

/* Reads the stream back with chunks of 1 to 3000 bytes: its checksum, or 0
 * when a byte is not the pattern's. */
static uint64_t drain(int fd, int sock)
{
    unsigned char buf[3000], want[3000];
    size_t pos = 0, k = 0;
    uint64_t sum = FNV0;
    while (pos < STREAM) {
        size_t n = 1 + (k++ * 104729) % sizeof buf;
        ssize_t r = sock ? recv(fd, buf, n, 0) : read(fd, buf, n);
        if (r <= 0) return 0;
        pattern(want, pos, (size_t)r);
        if (memcmp(buf, want, (size_t)r)) return 0;
        sum = fnv(sum, buf, (size_t)r);
        pos += (size_t)r;
    }
    return sum;
}

static int alarm_pipe[2], hand_pipe[2];
static volatile sig_atomic_t handler_wrote;

static void on_usr1(int sig)
{
    (void)sig;
    int e = errno;
    handler_wrote = (int)write(hand_pipe[1], "h", 1);
    errno = e;
}

static void *poke(void *a)
{
    pthread_t main_thread = *(pthread_t *)a;
    sleep_ms(100);
    pthread_kill(main_thread, SIGUSR1); /* lands in main's read */
    sleep_ms(100);
    if (write(alarm_pipe[1], "m", 1) != 1) abort();
    return NULL;
}

static volatile sig_atomic_t alt_wrote;

static void on_usr2(int sig)
{
    (void)sig;
    int e = errno;
    alt_wrote += (int)write(hand_pipe[1], "a", 1);
    errno = e;
}

static void *cancelled_reader(void *a)
{
    char c;
    return (void *)(intptr_t)read(*(int *)a, &c, 1);
}

static int check_mode(const char *out)
{
    print_read_origin();
    int p[2], sv[2];
    pthread_t t;
    feeder_t f;

    /* read / write through a pipe */
    CHECK("pipe", pipe(p) == 0);
    f = (feeder_t){.fd = p[1]};
    pthread_create(&t, NULL, feed, &f);
    uint64_t got = drain(p[0], 0);
    pthread_join(t, NULL);
    CHECK("read/write checksum", got != 0 && got == f.sum);

    /* writev / readv, with different splits on each side */
    {
        unsigned char a[10], b[100], c[1000], x[555], y[5], z[550], all[1110], back[1110];
        pattern(all, 7, sizeof all);
        memcpy(a, all, 10);
        memcpy(b, all + 10, 100);
        memcpy(c, all + 110, 1000);
        struct iovec w[3] = {{a, 10}, {b, 100}, {c, 1000}}, r[3] = {{x, 555}, {y, 5}, {z, 550}};
        CHECK("writev", writev(p[1], w, 3) == 1110);
        CHECK("readv", readv(p[0], r, 3) == 1110);
        memcpy(back, x, 555);
        memcpy(back + 555, y, 5);
        memcpy(back + 560, z, 550);
        CHECK("readv/writev bytes", memcmp(all, back, sizeof all) == 0);
    }

    /* errno: EAGAIN from an empty non-blocking pipe, left alone on success */
    {
        char c;
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        errno = 0;
        CHECK("read EAGAIN", read(p[0], &c, 1) == -1 && errno == EAGAIN);
        struct iovec v = {&c, 1};
        errno = 0;
        CHECK("readv EAGAIN", readv(p[0], &v, 1) == -1 && errno == EAGAIN);
        errno = 4242;
        CHECK("write leaves errno alone", write(p[1], "q", 1) == 1 && errno == 4242);
        errno = 4242;
        CHECK("read leaves errno alone", read(p[0], &c, 1) == 1 && c == 'q' && errno == 4242);
        errno = 0;
        CHECK("read EBADF", read(-1, &c, 1) == -1 && errno == EBADF);
        errno = 0;
        CHECK("write EBADF", write(-1, &c, 1) == -1 && errno == EBADF);
        char buf[8];
        errno = 0;
        CHECK("__read_chk EAGAIN", __read_chk(p[0], buf, 4, sizeof buf) == -1 && errno == EAGAIN);
        CHECK("write for __read_chk", write(p[1], "chk!", 4) == 4);
        CHECK("__read_chk", __read_chk(p[0], buf, 4, sizeof buf) == 4 && !memcmp(buf, "chk!", 4));
        fcntl(p[0], F_SETFL, 0);
    }

    /* pread / pwrite / pread64 / pwrite64 on a file */
    {
        char path[] = "/tmp/io_truth.XXXXXX";
        int fd = mkstemp(path);
        CHECK("mkstemp", fd >= 0);
        unlink(path);
        unsigned char w[4096], r[4096];
        pattern(w, 99, sizeof w);
        CHECK("pwrite", pwrite(fd, w, 2048, 100000) == 2048);
        CHECK("pwrite64", pwrite64(fd, w + 2048, 2048, 100000 + 2048) == 2048);
        CHECK("pread", pread(fd, r, 4096, 100000) == 4096 && !memcmp(r, w, 4096));
        CHECK("pread64", pread64(fd, r, 100, 100010) == 100 && !memcmp(r, w + 10, 100));
        CHECK("pread past the end", pread(fd, r, 10, 1 << 20) == 0);
        errno = 0;
        CHECK("pread ESPIPE", pread(p[0], r, 1, 0) == -1 && errno == ESPIPE);
        close(fd);
    }

    /* send / recv, sendto / recvfrom, sendmsg / recvmsg on a socket pair */
    CHECK("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    f = (feeder_t){.fd = sv[1], .sock = 1};
    pthread_create(&t, NULL, feed, &f);
    got = drain(sv[0], 1);
    pthread_join(t, NULL);
    CHECK("recv/send checksum", got != 0 && got == f.sum);
    {
        char buf[64];
        CHECK("sendto", sendto(sv[1], "to-from", 7, 0, NULL, 0) == 7);
        CHECK("recvfrom",
              recvfrom(sv[0], buf, sizeof buf, 0, NULL, NULL) == 7 && !memcmp(buf, "to-from", 7));
        char h1[] = "head-", h2[] = "tail";
        struct iovec w[2] = {{h1, 5}, {h2, 4}};
        struct msghdr m = {.msg_iov = w, .msg_iovlen = 2};
        CHECK("sendmsg", sendmsg(sv[1], &m, 0) == 9);
        char r1[3], r2[20];
        struct iovec r[2] = {{r1, 3}, {r2, 20}};
        struct msghdr mr = {.msg_iov = r, .msg_iovlen = 2};
        CHECK("recvmsg",
              recvmsg(sv[0], &mr, 0) == 9 && !memcmp(r1, "hea", 3) && !memcmp(r2, "d-tail", 6));
        errno = 0;
        CHECK("recv EAGAIN", recv(sv[0], buf, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN);
        errno = 4242;
        CHECK("send leaves errno alone", send(sv[1], "x", 1, 0) == 1 && errno == 4242);
        CHECK("recv", recv(sv[0], buf, 1, 0) == 1 && buf[0] == 'x');
    }

    /* accept4 / connect over loopback TCP; then a refused connect */
    {
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof sa;
        CHECK("listen", lfd >= 0 && !bind(lfd, (struct sockaddr *)&sa, sizeof sa) &&
                            !listen(lfd, 4) && !getsockname(lfd, (struct sockaddr *)&sa, &sl));
        int cfd = socket(AF_INET, SOCK_STREAM, 0);
        CHECK("connect", connect(cfd, (struct sockaddr *)&sa, sizeof sa) == 0);
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        int afd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
        CHECK("accept4", afd >= 0 && pl == sizeof peer && peer.sin_family == AF_INET &&
                             (fcntl(afd, F_GETFD) & FD_CLOEXEC));
        CHECK("send on accepted", send(cfd, "A", 1, 0) == 1);
        char c = 0;
        CHECK("read on accepted", read(afd, &c, 1) == 1 && c == 'A');
        close(afd);
        CHECK("connect again", close(cfd) == 0 && (cfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0 &&
                                   connect(cfd, (struct sockaddr *)&sa, sizeof sa) == 0);
        afd = accept(lfd, NULL, NULL);
        CHECK("accept", afd >= 0);
        close(afd);
        close(cfd);
        close(lfd); /* nobody listens on that port now */
        cfd = socket(AF_INET, SOCK_STREAM, 0);
        errno = 0;
        CHECK("connect ECONNREFUSED",
              connect(cfd, (struct sockaddr *)&sa, sizeof sa) == -1 && errno == ECONNREFUSED);
        close(cfd);
    }

    /* A handler writes while main is blocked in read (the read is restarted
     * and still gets its byte); a handler on an alternate stack writes. */
    {
        CHECK("pipes", pipe(alarm_pipe) == 0 && pipe(hand_pipe) == 0);
        struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
        sigaction(SIGUSR1, &sa, NULL);
        pthread_t self = pthread_self();
        pthread_create(&t, NULL, poke, &self);
        char c = 0;
        errno = 0;
        ssize_t r = read(alarm_pipe[0], &c, 1);
        pthread_join(t, NULL);
        CHECK("read interrupted by a writing handler", r == 1 && c == 'm');
        CHECK("the handler's write",
              handler_wrote == 1 && read(hand_pipe[0], &c, 1) == 1 && c == 'h');

        static char alt[64 * 1024];
        stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
        struct sigaction sb = {.sa_handler = on_usr2, .sa_flags = SA_ONSTACK | SA_RESTART};
        CHECK("sigaltstack", sigaltstack(&ss, NULL) == 0 && sigaction(SIGUSR2, &sb, NULL) == 0);
        for (int i = 0; i < 100; i++)
            raise(SIGUSR2);
        char buf[100];
        CHECK("writes from the alternate stack",
              alt_wrote == 100 && read(hand_pipe[0], buf, 100) == 100);
    }

    /* A thread cancelled in read: it ends, and so does its record. */
    {
        int q[2];
        CHECK("pipe", pipe(q) == 0);
        pthread_create(&t, NULL, cancelled_reader, &q[0]);
        sleep_ms(100);
        void *res = NULL;
        CHECK("cancel in read",
              pthread_cancel(t) == 0 && pthread_join(t, &res) == 0 && res == PTHREAD_CANCELED);
    }

    if (out) CHECK("threads profile written", io_dump_now(out) == 0);
    printf("all checks passed\n");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "wait")) return wait_mode(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "check")) return check_mode(argc >= 3 ? argv[2] : NULL);
    fprintf(stderr, "usage: io_truth wait OUT | io_truth check [OUT]\n");
    return 2;
}
