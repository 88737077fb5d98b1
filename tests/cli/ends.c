/*
 * ends.c - a program that ends the way it is told, for scry run's messages
 * about how a run ended (tests/cli/run_messages.sh, run_setuid.sh):
 *
 *   ends exit N    prints "ran" and calls exit(N): scry's exit writer runs
 *   ends _exit N   prints "ran" and calls _exit(N): it does not
 *   ends kill      prints "ran" and sends itself SIGKILL
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    puts("ran");
    fflush(stdout);
    if (!strcmp(argv[1], "exit") && argc == 3) exit(atoi(argv[2]));
    if (!strcmp(argv[1], "_exit") && argc == 3) _exit(atoi(argv[2]));
    if (!strcmp(argv[1], "kill")) kill(getpid(), SIGKILL);
    return 2;
}
