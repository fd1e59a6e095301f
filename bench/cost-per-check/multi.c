// Groups of processes that each check the HTTP server on 127.0.0.1:PORT
// once a second, as monitors do, each group in its own variant; all groups
// run at the same time, so that the machine's other load weighs on all
// alike. Per group: CPU per check (se.sum_exec_runtime of its processes
// over SECS s after 3 s of warm-up, divided by its checks) and context
// switches per check. See ../cost-per-check.md.
//
//	cc -O2 -o multi multi.c
//	RECDIR=DIR ./multi PORT SECS FLAGS:COUNT ...	(at most 16 groups)
//
// A check is a monitor's probe: a non-blocking socket, connect, ppoll for
// POLLOUT (with a signalfd, and the probe's deadline as timeout),
// getsockopt(SO_ERROR), send a HEAD request, ppoll for POLLIN, recv, close;
// between two checks one ppoll on the signalfd until the next slot. FLAGS
// change it, one letter each (an empty set is not allowed: use "-"):
//   e  no getsockopt(SO_ERROR)
//   w  send at once after connect; ppoll (and getsockopt) only on EAGAIN
//   q  TCP_QUICKACK 0 before connect (as HAProxy does)
//   r  close with an RST (SO_LINGER {1, 0})
//   p  pwrite 4096 B to a record file in RECDIR after each check
//   m  memcpy 4096 B into a MAP_SHARED map of that file instead
//   2  sleep as clp_httpmon does: a first ppoll shortened by the kernel's
//      slack (1/400 of the wait above 50 ms), then a second for the rest
//   T  sleep on a periodic timerfd (absolute, no slack) in one ppoll
//   n  no check at all: only the sleep and the wake-up
//   L  no wait for the reply: connect and send at a slot, read the reply
//      (non-blocking) and close at the next slot, the check's deadline
//      (as -r 1 -i 1 allows): one wake-up per check
// Every process ends on SIGTERM (its signalfd) and after SECS + 60 slots.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int has(const char *f, char c) { return strchr(f, c) != NULL; }
static double mono(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int waitfd(int fd, short ev, int sfd, double deadline) {
    struct pollfd p[2] = {{fd, ev, 0}, {sfd, POLLIN, 0}};
    double left = deadline - mono(); if (left < 0) left = 0;
    struct timespec ts = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
    int n = ppoll(p, sfd >= 0 ? 2 : 1, &ts, NULL);
    return n > 0 && (p[0].revents & (ev | POLLHUP | POLLERR));
}
static int check(const char *f, struct sockaddr_in *a, const char *req, int rl, int sfd) {
    double deadline = mono() + 1.0;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (has(f, 'q')) { int z = 0; setsockopt(s, IPPROTO_TCP, TCP_QUICKACK, &z, sizeof z); }
    int r = connect(s, (struct sockaddr *)a, sizeof *a);
    if (r < 0 && errno != EINPROGRESS) { close(s); return 0; }
    int sent = -1;
    if (has(f, 'w')) {
        sent = send(s, req, rl, MSG_NOSIGNAL);
        if (sent < 0 && (errno == EAGAIN || errno == ENOTCONN)) sent = -2;
    }
    if (sent == -1 || sent == -2) {
        if (!waitfd(s, POLLOUT, sfd, deadline)) { close(s); return 0; }
        if (!has(f, 'e')) { int e = 0; socklen_t l = sizeof e; getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l); if (e) { close(s); return 0; } }
        sent = send(s, req, rl, MSG_NOSIGNAL);
    }
    if (sent != rl) { close(s); return 0; }
    char buf[4096]; ssize_t got;
    for (;;) {
        got = recv(s, buf, sizeof buf, 0);
        if (got < 0 && errno == EAGAIN) { if (!waitfd(s, POLLIN, sfd, deadline)) break; continue; }
        break;
    }
    int ok = got > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0;
    if (has(f, 'r')) { struct linger lg = {1, 0}; setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); }
    close(s);
    return ok;
}
// 'L': the check's first half: connect and send (at once; ppoll for
// POLLOUT only on EAGAIN). The socket, or -1.
static int start(const char *f, struct sockaddr_in *a, const char *req, int rl, int sfd) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (has(f, 'q')) { int z = 0; setsockopt(s, IPPROTO_TCP, TCP_QUICKACK, &z, sizeof z); }
    int r = connect(s, (struct sockaddr *)a, sizeof *a);
    if (r < 0 && errno != EINPROGRESS) { close(s); return -1; }
    int sent = send(s, req, rl, MSG_NOSIGNAL);
    if (sent < 0 && (errno == EAGAIN || errno == ENOTCONN)) {
        if (!waitfd(s, POLLOUT, sfd, mono() + 1.0)) { close(s); return -1; }
        sent = send(s, req, rl, MSG_NOSIGNAL);
    }
    if (sent != rl) { close(s); return -1; }
    return s;
}

// 'L': the second half, at the deadline (the next slot): the reply is
// there or the check has failed; no wait for it.
static int finish(const char *f, int s) {
    char buf[4096];
    ssize_t got = recv(s, buf, sizeof buf, MSG_DONTWAIT);
    int ok = got > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0;
    if (has(f, 'r')) { struct linger lg = {1, 0}; setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); }
    close(s);
    return ok;
}

static double sched_s(int pid) {
    char p[64]; snprintf(p, sizeof p, "/proc/%d/sched", pid);
    FILE *f = fopen(p, "r"); if (!f) return 0; char line[256]; double v = 0;
    while (fgets(line, sizeof line, f)) if (sscanf(line, "se.sum_exec_runtime : %lf", &v) == 1) break;
    fclose(f); return v / 1e3;
}
static long switches(int pid) {
    char p[64]; snprintf(p, sizeof p, "/proc/%d/status", pid);
    FILE *f = fopen(p, "r"); if (!f) return 0; char line[256]; long n = 0, v;
    while (fgets(line, sizeof line, f)) if (strstr(line, "ctxt_switches:") && sscanf(strchr(line, ':') + 1, "%ld", &v) == 1) n += v;
    fclose(f); return n;
}
int main(int argc, char **argv) {
    int port = atoi(argv[1]), secs = atoi(argv[2]), ng = argc - 3;
    const char *recdir = getenv("RECDIR") ? getenv("RECDIR") : ".";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    long *checks = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int total = 0, counts[16]; char flags[16][16];
    for (int g = 0; g < ng; g++) { sscanf(argv[3 + g], "%15[^:]:%d", flags[g], &counts[g]); total += counts[g]; }
    int *pids = calloc(total, sizeof *pids), *grp = calloc(total, sizeof *grp);
    sigset_t ss; sigemptyset(&ss); sigaddset(&ss, SIGTERM); sigprocmask(SIG_BLOCK, &ss, NULL);
    double t0 = mono() + 0.5;
    int k = 0;
    for (int g = 0; g < ng; g++) for (int i = 0; i < counts[g]; i++, k++) {
        grp[k] = g;
        int pid = fork();
        if (pid == 0) {
            const char *f = flags[g];
            char req[256];
            int rl = snprintf(req, sizeof req, "HEAD / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: multi/%s\r\nConnection: close\r\n\r\n", port, f);
            int sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
            char path[256]; snprintf(path, sizeof path, "%s/rec-%d", recdir, k);
            int rec = -1; char *map = NULL; static char page[4096]; memset(page, 'r', sizeof page);
            if (has(f, 'p') || has(f, 'm')) {
                rec = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644); pwrite(rec, page, 4096, 0);
                if (has(f, 'm')) map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rec, 0);
            }
            double next = t0 + (double)k / total;   // spread over the second
            int tfd = -1, pending = -1;
            if (has(f, 'T')) {   // 'T': a periodic timerfd, absolute, exact
                tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
                struct itimerspec its = {{1, 0}, {(time_t)next, (long)((next - (time_t)next) * 1e9)}};
                timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
            }
            for (int it = 0; it < secs + 60; it++) {
                if (tfd >= 0) {   // one ppoll, no timeout: the timer or a signal
                    struct pollfd p[2] = {{sfd, POLLIN, 0}, {tfd, POLLIN, 0}};
                    if (ppoll(p, 2, NULL, NULL) > 0 && p[0].revents) _exit(0);
                    uint64_t ticks; read(tfd, &ticks, sizeof ticks);
                    next = 0;   // the loop below does not wait
                }
                for (;;) {   // sleep to the slot; a signal ends the process
                    double left = next - mono();
                    if (left <= 0) break;
                    // '2': as the monitor: a first wait shortened by the
                    // kernel's slack (left/400 above 50 ms), then the rest.
                    if (has(f, '2') && left > 0.05) left -= left / 400;
                    struct pollfd p = {sfd, POLLIN, 0};
                    struct timespec ts = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
                    if (ppoll(&p, 1, &ts, NULL) > 0) _exit(0);
                }
                next = tfd >= 0 ? 0 : next + 1.0;
                if (has(f, 'L')) {
                    if (pending >= 0 && finish(f, pending)) __sync_fetch_and_add(&checks[k], 1);
                    pending = start(f, &a, req, rl, sfd);
                } else if (!has(f, 'n') && check(f, &a, req, rl, sfd))
                    __sync_fetch_and_add(&checks[k], 1);
                if (has(f, 'n')) __sync_fetch_and_add(&checks[k], 1);
                page[0] = 'a' + it % 26;
                if (has(f, 'p')) pwrite(rec, page, 4096, 0);
                if (map) { memcpy(map, page, 4096); }
            }
            _exit(0);
        }
        pids[k] = pid;
    }
    sleep(3);
    double c0[16] = {0}, c1[16] = {0}; long n0[16] = {0}, n1[16] = {0}, s0[16] = {0}, s1[16] = {0};
    for (k = 0; k < total; k++) { c0[grp[k]] += sched_s(pids[k]); n0[grp[k]] += checks[k]; s0[grp[k]] += switches(pids[k]); }
    double w0 = mono();
    sleep(secs);
    for (k = 0; k < total; k++) { c1[grp[k]] += sched_s(pids[k]); n1[grp[k]] += checks[k]; s1[grp[k]] += switches(pids[k]); }
    double w1 = mono();
    for (k = 0; k < total; k++) kill(pids[k], SIGTERM);
    for (k = 0; k < total; k++) waitpid(pids[k], NULL, 0);
    for (int g = 0; g < ng; g++)
        printf("%-8s x%d: %.2f us of CPU per check, %.2f switches per check, %.1f checks/s\n", flags[g], counts[g],
               (c1[g] - c0[g]) / (n1[g] - n0[g]) * 1e6, (double)(s1[g] - s0[g]) / (n1[g] - n0[g]), (n1[g] - n0[g]) / (w1 - w0));
    return 0;
}
