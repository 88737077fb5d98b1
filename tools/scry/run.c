#include "cli.h"
int scry_cmd_run(int argc, char **argv){(void)argc;(void)argv;return 1;}
