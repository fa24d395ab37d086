/*
 * maxrss.c - run a command and write its peak resident set size (kilobytes, from
 * wait4's ru_maxrss) to a file; bench/peers/run uses it only when GNU time
 * (/usr/bin/time) is not available.
 *
 * usage: maxrss OUTFILE COMMAND [ARGS...]      exit status: the command's
 *
 * The measurement has to come from a small process: Linux carries a process's peak
 * RSS across execve(), so a child forked from the (large) Python driver would report
 * at least the driver's own footprint. This helper is small when it forks.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUTFILE COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 127;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    /* Let a signal sent to the process group reach the child, not stop us first. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 127;
    }
    FILE *f = fopen(argv[1], "w");
    if (f == NULL || fprintf(f, "%ld\n", ru.ru_maxrss) < 0 || fclose(f) != 0) {
        perror(argv[1]);
        return 127;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
