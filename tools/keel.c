/* keel — the command-line tool: dispatches `keel <command> ...` to the
 * command's own file (cmd_*.c). Exit codes, for every command:
 *   0  success;
 *   1  the answer is "no" or the input had bad parts (an unknown code, a log
 *      ID not found, a line that is not a keel error);
 *   2  usage error or I/O error (no such file, bad arguments). */
#include <stdio.h>
#include <string.h>

#include "tool.h"

/* The release this tool belongs to (project(keel VERSION) in CMakeLists.txt). */
#define KEEL_TOOL_VERSION "0.1.0"

static int cmd_version(int argc, char **argv) {
  (void)argv;
  if (argc != 1) return tool_usage("keel version");
  printf("keel %s\n", KEEL_TOOL_VERSION);
  return 0;
}

static void help(FILE *out) {
  fprintf(out,
          "usage: keel <command> [arguments]\n"
          "\n"
          "commands:\n"
          "  version                    print keel's version\n"
          "  strerror <code|name>       describe a keel status code (-3, KEEL_ETIMEDOUT, etimedout)\n"
          "  err show [file]            print each error of a JSON error log readably\n"
          "                             (file, or standard input when absent or \"-\")\n"
          "  err find <log-id> [file]   print the error logged under that log ID\n"
          "  help                       this text\n"
          "\n"
          "exit status: 0 success, 1 not found or bad input lines, 2 usage or I/O error\n");
}

int tool_usage(const char *synopsis) {
  fprintf(stderr, "keel: usage: %s\n", synopsis);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    help(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
    return cmd_version(argc - 1, argv + 1);
  if (strcmp(cmd, "strerror") == 0) return cmd_strerror(argc - 1, argv + 1);
  if (strcmp(cmd, "err") == 0) return cmd_err(argc - 1, argv + 1);
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    help(stdout);
    return 0;
  }
  fprintf(stderr, "keel: unknown command \"%s\" (try: keel help)\n", cmd);
  return 2;
}
