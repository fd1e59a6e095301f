// What single calls cost, warm, in a tight loop: ns of CPU per call. PORT:
// an HTTP server on 127.0.0.1 (one connection stays open); DIR...: where
// to write files (e.g. one on ext4, one on tmpfs). See ../cost-per-check.md.
//
//	cc -O2 -o sys sys.c && ./sys PORT DIR...
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
#define BENCH(name, n, stmt) do { double c0 = cpu(); for (int i = 0; i < (n); i++) { stmt; } double c1 = cpu(); printf("%-52s %8.1f ns\n", name, (c1 - c0) / (n) * 1e9); } while (0)
int main(int argc, char **argv) {
    int port = atoi(argv[1]);
    int N = 200000;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a)) return 2;
    sigset_t ss; sigemptyset(&ss); sigaddset(&ss, SIGTERM); sigprocmask(SIG_BLOCK, &ss, NULL);
    int sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
    int e; socklen_t l;
    BENCH("getsockopt(SO_ERROR), connected socket", N, (l = sizeof e, getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l)));
    struct timespec ts;
    BENCH("clock_gettime(CLOCK_MONOTONIC), vDSO", N * 5, clock_gettime(CLOCK_MONOTONIC, &ts));
    BENCH("clock_gettime(CLOCK_REALTIME), vDSO", N * 5, clock_gettime(CLOCK_REALTIME, &ts));
    BENCH("clock_gettime(CLOCK_MONOTONIC), as a system call", N, syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts));
    struct timespec to = {0, 999000000};
    struct pollfd p2[2] = {{s, POLLOUT, 0}, {sfd, POLLIN, 0}};
    BENCH("ppoll, socket ready (POLLOUT), 1 fd, no timeout", N, ppoll(p2, 1, NULL, NULL));
    BENCH("ppoll, socket ready, 1 fd, timeout", N, ppoll(p2, 1, &to, NULL));
    BENCH("ppoll, socket ready, + signalfd (2 fds), timeout", N, ppoll(p2, 2, &to, NULL));
    static char page[4096]; memset(page, 'y', sizeof page);
    for (int k = 2; k < argc; k++) {
        char path[4096], nm[4200];
        snprintf(path, sizeof path, "%s/sys-test", argv[k]);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        pwrite(fd, page, 4096, 0);
        snprintf(nm, sizeof nm, "pwrite 4096 B at 0, %s", argv[k]);
        BENCH(nm, N, pwrite(fd, page, 4096, 0));
        snprintf(nm, sizeof nm, "pwrite 64 B at 100, %s", argv[k]);
        BENCH(nm, N, pwrite(fd, page, 64, 100));
        char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        snprintf(nm, sizeof nm, "memcpy 4096 B into a MAP_SHARED map, %s", argv[k]);
        BENCH(nm, N, memcpy(m, page, 4096); __asm__ volatile("" ::: "memory"));
        munmap(m, 4096);
        close(fd);
        unlink(path);
    }
    int z = 0;
    BENCH("setsockopt(TCP_QUICKACK 0)", N, setsockopt(s, IPPROTO_TCP, 12, &z, sizeof z));
    return 0;
}
