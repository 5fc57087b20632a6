/* `keel strerror <code|name>`: a keel status code's name and meaning. The
 * argument is a number (-3; a positive 3 is read as -3, since keel codes are
 * negative) or a name with or without its KEEL_ prefix, in any case. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keel/status.h"
#include "tool.h"

/* keel's codes run from KEEL_OK down; look a little further to be safe. */
#define LOWEST_CODE -256

static bool parse_code(const char *s, int *code) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno == ERANGE || v < -100000 || v > 100000) return false;
  *code = v > 0 ? (int)-v : (int)v;
  return true;
}

static bool find_by_name(const char *s, int *code) {
  const char *want = strncasecmp(s, "KEEL_", 5) == 0 ? s + 5 : s;
  for (int c = 0; c >= LOWEST_CODE; c--) {
    const char *name = keel_status_name(c);
    if (strcmp(name, "KEEL_UNKNOWN") == 0) continue;
    if (strcasecmp(name + 5, want) == 0) {
      *code = c;
      return true;
    }
  }
  return false;
}

int cmd_strerror(int argc, char **argv) {
  if (argc != 2) return tool_usage("keel strerror <code|name>");
  int code;
  const char *arg = argv[1];
  bool numeric = arg[0] == '-' || isdigit((unsigned char)arg[0]) || arg[0] == '+';
  if (numeric ? !parse_code(arg, &code) : !find_by_name(arg, &code)) {
    fprintf(stderr, "keel: \"%s\" is not a keel status code or name\n", arg);
    return 1;
  }
  const char *name = keel_status_name(code);
  if (strcmp(name, "KEEL_UNKNOWN") == 0) {
    fprintf(stderr, "keel: %d is not a keel status code\n", code);
    return 1;
  }
  printf("%s (%d): %s\n", name, code, keel_strerror(code));
  return 0;
}
