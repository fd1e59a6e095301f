// The record's write as a monitor makes it: once in a while (here every
// 5 ms, so that the file's mtime changes each time), not in a tight loop;
// the wall time of the call alone (nothing sleeps in it), 400 times, on a
// file in each directory given (e.g. one on ext4, one on tmpfs). See
// ../cost-per-check.md.
//
//	cc -O2 -o pw pw.c && ./pw DIR...
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
static double mono(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
#define N 400
static void run(const char *label, const char *path, int mode) {
    static char page[4096]; memset(page, 'z', sizeof page);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    pwrite(fd, page, 4096, 0);
    char *m = mode == 2 ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : NULL;
    double d[N], sum = 0;
    struct timespec gap = {0, 5000000};
    for (int i = 0; i < N; i++) {
        nanosleep(&gap, NULL);
        page[0] = 'a' + i % 26;
        double t0 = mono();
        if (mode == 0) pwrite(fd, page, 4096, 0);
        else if (mode == 1) pwrite(fd, page, 64, 100);
        else { memcpy(m, page, 4096); __asm__ volatile("" ::: "memory"); }
        d[i] = mono() - t0; sum += d[i];
    }
    qsort(d, N, sizeof d[0], cmp);
    printf("%-58s mean %6.2f us, median %6.2f us, p90 %6.2f us\n", label, sum / N / 1e3, d[N / 2] / 1e3, d[N * 9 / 10] / 1e3);
    if (m) munmap(m, 4096);
    close(fd); unlink(path);
}
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char path[4096], label[4200];
        snprintf(path, sizeof path, "%s/pw-test", argv[i]);
        snprintf(label, sizeof label, "pwrite 4096 B every 5 ms, %s", argv[i]);
        run(label, path, 0);
        snprintf(label, sizeof label, "pwrite 64 B every 5 ms, %s", argv[i]);
        run(label, path, 1);
        snprintf(label, sizeof label, "memcpy 4096 B into a MAP_SHARED map every 5 ms, %s", argv[i]);
        run(label, path, 2);
    }
    return 0;
}
