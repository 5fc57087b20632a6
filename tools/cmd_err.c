/* `keel err show [file]` and `keel err find <log-id> [file]`: read a JSON
 * error log (one keel_err_handle line per error; other lines are reported
 * and skipped) and print errors for a person. Log IDs are matched as
 * Crockford base32: case does not matter, and I/L read as 1, O as 0, as a
 * person reading an ID over the phone may say them. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keel/err.h"
#include "tool.h"

static void print_time(int64_t ns) {
  time_t t = (time_t)(ns / 1000000000);
  struct tm tm;
  char buf[64];
  if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm))
    printf("%s.%03dZ", buf, (int)(ns % 1000000000 / 1000000));
  else
    printf("?");
}

static void print_entry(const keel_err_log_entry *en, const keel_err *e) {
  printf("=== log ID %s", en->log_id);
  if (en->logged) {
    printf("  logged ");
    print_time(en->logged);
  }
  printf("\n");
  if (en->expected_module[0])
    printf("%s for module \"%s\"; the user saw: [%s] %s\n",
           en->well_formed ? "well-formed" : "NOT well-formed (a bug)",
           en->expected_module, en->log_id, en->user_message);
  char *text = keel_err_format(e);
  if (text) {
    fputs(text, stdout);
    free(text);
  } else {
    printf("(out of memory formatting the error)\n");
  }
  printf("\n");
}

/* Normalizes a log ID as Crockford base32; false when it cannot be one. */
static bool normalize_id(const char *in, char out[KEEL_ERR_LOG_ID_LEN + 1]) {
  size_t n = 0;
  for (const char *p = in; *p; p++) {
    char c = *p;
    if (c == '-' || c == ' ') continue;   /* read out in groups */
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    if (c == 'I' || c == 'L') c = '1';
    if (c == 'O') c = '0';
    if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", c) || c == 0) return false;
    if (n == KEEL_ERR_LOG_ID_LEN) return false;
    out[n++] = c;
  }
  out[n] = 0;
  return n == KEEL_ERR_LOG_ID_LEN;
}

/* Reads the log; for each line calls back. Returns 2 on I/O error, else 1
 * when some line was bad, else 0. want_id: only that ID (find). */
static int scan(const char *path, const char *want_id, int *found) {
  FILE *f = stdin;
  const char *name = "standard input";
  if (path && strcmp(path, "-") != 0) {
    f = fopen(path, "r");
    name = path;
    if (!f) {
      fprintf(stderr, "keel: cannot open %s: %s\n", path, strerror(errno));
      return 2;
    }
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long lineno = 0;
  int bad = 0;
  *found = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (len == 0) continue;
    if (want_id && !strstr(line, want_id)) continue;   /* cheap filter first */
    keel_err *e = NULL;
    keel_err_log_entry en;
    char why[256];
    if (keel_err_decode_log_line(line, (size_t)len, &e, &en, why, sizeof why) != 0) {
      if (!want_id) fprintf(stderr, "keel: %s:%ld: %s\n", name, lineno, why);
      bad = 1;
      continue;
    }
    if (!want_id || strcmp(en.log_id, want_id) == 0) {
      print_entry(&en, e);
      (*found)++;
    }
    keel_err_release(e);
  }
  int io = ferror(f);
  free(line);
  if (f != stdin) fclose(f);
  if (io) {
    fprintf(stderr, "keel: error reading %s\n", name);
    return 2;
  }
  return want_id ? 0 : bad;
}

int cmd_err(int argc, char **argv) {
  const char *use = "keel err show [file] | keel err find <log-id> [file]";
  if (argc < 2) return tool_usage(use);
  int found;
  if (strcmp(argv[1], "show") == 0) {
    if (argc > 3) return tool_usage("keel err show [file]");
    return scan(argc == 3 ? argv[2] : NULL, NULL, &found);
  }
  if (strcmp(argv[1], "find") == 0) {
    if (argc < 3 || argc > 4) return tool_usage("keel err find <log-id> [file]");
    char id[KEEL_ERR_LOG_ID_LEN + 1];
    if (!normalize_id(argv[2], id)) {
      fprintf(stderr, "keel: \"%s\" is not a log ID (%d Crockford base32 characters)\n",
              argv[2], KEEL_ERR_LOG_ID_LEN);
      return 2;
    }
    const char *path = argc == 4 ? argv[3] : NULL;
    int r = scan(path, id, &found);
    if (r) return r;
    if (!found) {
      fprintf(stderr, "keel: log ID %s not found in %s\n", id,
              path && strcmp(path, "-") != 0 ? path : "standard input");
      return 1;
    }
    return 0;
  }
  fprintf(stderr, "keel: unknown err command \"%s\"\n", argv[1]);
  return tool_usage(use);
}
