// N checks one after another (a hot loop, one process) against the HTTP
// server on 127.0.0.1:PORT, in variants: CPU per check
// (CLOCK_PROCESS_CPUTIME_ID), wall time, context switches. See
// ../cost-per-check.md.
//
//	cc -O2 -o check check.c && ./check PORT N FLAGS [RECFILE]
//
// FLAGS, one letter each:
//   b  blocking socket: connect, send, recv, close (the floor); else
//      non-blocking with ppoll, as a monitor probes
//   w  send at once after connect; ppoll (and getsockopt) only on EAGAIN
//   e  no getsockopt(SO_ERROR)
//   r  close with an RST (SO_LINGER {1, 0})
//   q  TCP_QUICKACK 0 before connect (as HAProxy does)
//   s  ppoll on a signalfd too (as the monitor), else on the socket alone
//   t  ppoll with a timeout (as the monitor), else none
//   p  pwrite 4096 B to RECFILE after each check; P  pwrite 64 B;
//   m  memcpy 4096 B into a MAP_SHARED map of RECFILE
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
#include <time.h>
#include <unistd.h>

static long ctx(void) {
    FILE *f = fopen("/proc/self/status", "r"); char line[256]; long n = 0, v;
    while (fgets(line, sizeof line, f)) if (strstr(line, "ctxt_switches:") && sscanf(strchr(line, ':') + 1, "%ld", &v) == 1) n += v;
    fclose(f); return n;
}
static int has(const char *f, char c) { return strchr(f, c) != NULL; }
static double now(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static int waitfd(int fd, short ev, int sfd, int with_t) {
    struct pollfd p[2] = {{fd, ev, 0}, {sfd, POLLIN, 0}};
    struct timespec ts = {0, 999000000};
    int n = ppoll(p, sfd >= 0 ? 2 : 1, with_t ? &ts : NULL, NULL);
    return n > 0 && (p[0].revents & (ev | POLLHUP | POLLERR));
}

int main(int argc, char **argv) {
    int port = atoi(argv[1]), n = atoi(argv[2]);
    const char *f = argc > 3 ? argv[3] : "";
    const char *recfile = argc > 4 ? argv[4] : "check-record";
    char req[256];
    int rl = snprintf(req, sizeof req, "HEAD / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: cfloor/%s\r\nConnection: close\r\n\r\n", port, f);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    sigset_t ss; sigemptyset(&ss); sigaddset(&ss, SIGTERM); sigprocmask(SIG_BLOCK, &ss, NULL);
    int sfd = has(f, 's') ? signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK) : -1;
    int rec = -1; char *map = NULL; static char page[4096];
    memset(page, 'x', sizeof page);
    if (has(f, 'p') || has(f, 'P') || has(f, 'm')) {
        rec = open(recfile, O_RDWR | O_CREAT, 0644);
        if (pwrite(rec, page, 4096, 0) != 4096) return 3;
        if (has(f, 'm')) map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rec, 0);
    }
    int blocking = has(f, 'b'), ok = 0;
    char buf[4096];
    long x0 = ctx();
    double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
    for (int i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
        if (has(f, 'q')) { int z = 0; setsockopt(s, IPPROTO_TCP, TCP_QUICKACK, &z, sizeof z); }
        int r = connect(s, (struct sockaddr *)&a, sizeof a);
        if (r < 0 && errno != EINPROGRESS) { close(s); continue; }
        int sent = -1;
        if (!blocking) {
            if (has(f, 'w')) {
                sent = send(s, req, rl, MSG_NOSIGNAL);
                if (sent < 0 && (errno == EAGAIN || errno == ENOTCONN)) sent = -2;
            }
            if (sent == -1 || sent == -2) {
                if (!waitfd(s, POLLOUT, sfd, has(f, 't'))) { close(s); continue; }
                if (!has(f, 'e')) { int e = 0; socklen_t l = sizeof e; getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l); if (e) { close(s); continue; } }
                sent = -1;
            }
        }
        if (sent < 0) sent = send(s, req, rl, MSG_NOSIGNAL);
        if (sent != rl) { close(s); continue; }
        ssize_t got;
        for (;;) {
            got = recv(s, buf, sizeof buf, 0);
            if (got < 0 && errno == EAGAIN) { if (!waitfd(s, POLLIN, sfd, has(f, 't'))) break; continue; }
            break;
        }
        if (got > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0) ok++;
        if (has(f, 'r')) { struct linger lg = {1, 0}; setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); }
        close(s);
        if (has(f, 'p')) pwrite(rec, page, 4096, 0);
        if (has(f, 'P')) pwrite(rec, page, 64, 100);
        if (map) memcpy(map, page, 4096);
    }
    double c1 = now(CLOCK_PROCESS_CPUTIME_ID), w1 = now(CLOCK_MONOTONIC);
    long x1 = ctx();
    printf("flags=%s n=%d ok=%d cpu_us=%.2f wall_us=%.2f switches=%.2f\n", f, n, ok, (c1 - c0) / n * 1e6, (w1 - w0) / n * 1e6, (double)(x1 - x0) / n);
    return ok == n ? 0 : 1;
}
