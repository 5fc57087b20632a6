/* The decoder against hostile input: clear rejections for what is not an
 * error, limits on size and depth, strict UTF-8 and numbers, and a replay of
 * the seed corpus (tests/err/corpus) plus random mutations of it, which must
 * never crash or leak (ASan checks) and, when accepted, must re-encode to
 * something that decodes to the same bytes. The libFuzzer harness
 * (fuzz_decode.c) explores further in the ASan build. */
#include <dirent.h>

#include "err_test.h"

static int decode_str(const char *s, char *why, size_t n) {
  keel_err *e = NULL;
  int r = keel_err_decode(s, strlen(s), &e, NULL, why, n);
  keel_err_release(e);
  return r;
}

static bool rejected_because(const char *input, const char *reason) {
  char why[256] = {0};
  int r = decode_str(input, why, sizeof why);
  if (r != KEEL_EPROTO || !strstr(why, reason)) {
    fprintf(stderr, "  input %.60s: r=%d why=\"%s\" (want \"%s\")\n", input, r, why, reason);
    return false;
  }
  return true;
}

KT_TEST(minimal_error_is_accepted) {
  keel_err *e = NULL;
  const char *s = "{\"message\":\"x\"}";
  KT_CHECK_EQ(keel_err_decode(s, strlen(s), &e, NULL, NULL, 0), 0);
  KT_CHECK_STR(keel_err_message(e), "x");
  KT_CHECK(keel_err_module(e) == NULL);
  KT_CHECK_EQ(keel_err_stack_depth(e), 0);
  keel_err_release(e);
  s = " {\"message\":\"\\u00e9\\ud83d\\ude00\\/\"}\n";
  KT_CHECK_EQ(keel_err_decode(s, strlen(s), &e, NULL, NULL, 0), 0);
  KT_CHECK_STR(keel_err_message(e), "\xc3\xa9\xf0\x9f\x98\x80/");
  keel_err_release(e);
}

KT_TEST(non_errors_are_rejected_clearly) {
  KT_CHECK(rejected_because("[1,2]", "not a keel error: expected a JSON object"));
  KT_CHECK(rejected_because("{}", "no \"message\""));
  KT_CHECK(rejected_because("{\"module\":\"x\"}", "no \"message\""));
  KT_CHECK(rejected_because("{\"message\":1}", "\"message\" must be a string"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"message\":\"b\"}", "duplicate key"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"code\":1.5}", "\"code\" must be an integer"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"code\":4294967296}", "out of range"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"pid\":-1}", "out of range"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"task\":-1}", "non-negative"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"time\":\"2026-13-01T00:00:00Z\"}", "RFC 3339"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"time\":\"2026-01-01T00:00:00\"}", "RFC 3339"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"time\":\"9999-01-01T00:00:00Z\"}", "RFC 3339"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"transient\":1}", "true or false"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"fields\":[]}", "\"fields\" must be an object"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"fields\":{\"k\":[]}}", "field \"k\""));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"fields\":{\"k\":99999999999999999999}}", "out of range"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"stack\":{\"hash\":\"xyz\"}}", "hex"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"stack\":{\"frames\":[1]}}", "frame must be an object"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"stack\":{\"frames\":[{\"line\":-4}]}}", "out of range"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"inner\":[]}", "expected a JSON object"));
  KT_CHECK(rejected_because("{\"message\":\"a\",\"joined\":[]}", "non-empty array"));
  KT_CHECK(rejected_because("{\"log_id\":\"abc\",\"error\":{\"message\":\"a\"}}", "log_id"));
  KT_CHECK(rejected_because("{\"log_id\":\"0123456789\",\"error\":7}", "expected a JSON object"));
}

KT_TEST(bad_json_is_rejected_with_its_position) {
  KT_CHECK(rejected_because("", "unexpected end of input"));
  KT_CHECK(rejected_because("{\"message\":\"x\"", "unterminated object"));
  KT_CHECK(rejected_because("{\"message\":\"x\",}", "expected a key"));
  KT_CHECK(rejected_because("{\"message\":\"x\"} x", "trailing characters"));
  KT_CHECK(rejected_because("{\"message\":01}", "expected ','"));
  KT_CHECK(rejected_because("{\"message\":1.}", "bad number fraction"));
  KT_CHECK(rejected_because("{\"message\":-}", "bad number"));
  KT_CHECK(rejected_because("{\"message\":1e}", "bad number exponent"));
  KT_CHECK(rejected_because("{\"message\":NaN}", "unexpected character"));
  KT_CHECK(rejected_because("{\"message\":tru}", "bad literal"));
  KT_CHECK(rejected_because("{\"message\":\"\\x\"}", "unknown escape"));
  KT_CHECK(rejected_because("{\"message\":\"\\u12\"}", "bad \\u escape"));
  KT_CHECK(rejected_because("{\"message\":\"\\ud800\"}", "lone high surrogate"));
  KT_CHECK(rejected_because("{\"message\":\"\\udc00\"}", "lone low surrogate"));
  KT_CHECK(rejected_because("{\"message\":\"\\u0000\"}", "\\u0000"));
  KT_CHECK(rejected_because("{\"message\":\"a\tb\"}", "control character"));
  KT_CHECK(rejected_because("{\"message\":\"\xc0\x80\"}", "invalid UTF-8"));       /* overlong */
  KT_CHECK(rejected_because("{\"message\":\"\xed\xa0\x80\"}", "invalid UTF-8"));   /* surrogate */
  KT_CHECK(rejected_because("{\"message\":\"\xf5\x80\x80\x80\"}", "invalid UTF-8"));
  KT_CHECK(rejected_because("{\"message\":\"\xe2\x82\"}", "invalid UTF-8"));       /* cut */
  KT_CHECK(rejected_because("{\"message\":\"x\\", "unterminated string"));
  KT_CHECK(rejected_because("{\"message\":\"x", "unterminated string"));
  char why[200];
  keel_err *e = NULL;
  KT_CHECK_EQ(keel_err_decode("{\"message\":\"x\"}", 5, &e, NULL, why, sizeof why), KEEL_EPROTO);
  KT_CHECK(strstr(why, "at byte 2: unterminated string") != NULL);
  KT_CHECK_EQ(keel_err_decode(NULL, 0, &e, NULL, why, sizeof why), KEEL_EPROTO);
  KT_CHECK(strstr(why, "unexpected end of input") != NULL);
  KT_CHECK_EQ(keel_err_decode("{}", 2, NULL, NULL, why, sizeof why), KEEL_EINVAL);
  /* an embedded NUL byte is not JSON */
  KT_CHECK_EQ(keel_err_decode("{\"message\":\"a\0b\"}", 17, &e, NULL, why, sizeof why), KEEL_EPROTO);
  KT_CHECK(e == NULL);
}

KT_TEST(limits_hold) {
  /* nesting bomb: rejected early, no deep recursion */
  size_t n = 1000000;
  char *bomb = malloc(n + 1);
  memset(bomb, '[', n);
  bomb[n] = 0;
  KT_CHECK(rejected_because(bomb, "nested deeper than"));
  /* a chain of errors deeper than KEEL_ERR_MAX_CHAIN */
  char *p = bomb;
  for (int i = 0; i < KEEL_ERR_MAX_CHAIN + 5; i++)
    p += sprintf(p, "{\"message\":\"m\",\"inner\":");
  p += sprintf(p, "null");
  for (int i = 0; i < KEEL_ERR_MAX_CHAIN + 5; i++) *p++ = '}';
  *p = 0;
  KT_CHECK(rejected_because(bomb, "errors nested deeper than"));
  free(bomb);
  /* too long */
  size_t big = KEEL_ERR_JSON_MAX_BYTES + 1;
  char *huge = malloc(big + 1);
  memset(huge, ' ', big);
  huge[big] = 0;
  char why[200];
  keel_err *e = NULL;
  KT_CHECK_EQ(keel_err_decode(huge, big, &e, NULL, why, sizeof why), KEEL_EPROTO);
  KT_CHECK(strstr(why, "input longer than") != NULL);
  /* too many values */
  char *q = huge;
  q += sprintf(q, "{\"message\":\"m\",\"x\":[");
  for (int i = 0; i < 300000; i++) q += sprintf(q, "0,");
  q += sprintf(q, "0]}");
  KT_CHECK(rejected_because(huge, "more than"));
  /* too many frames */
  q = huge;
  q += sprintf(q, "{\"message\":\"m\",\"stack\":{\"frames\":[");
  for (int i = 0; i < 300; i++) q += sprintf(q, "%s{}", i ? "," : "");
  q += sprintf(q, "]}}");
  KT_CHECK(rejected_because(huge, "stack deeper than"));
  free(huge);
}

KT_TEST(encoder_cuts_chains_the_decoder_would_refuse) {
  keel_err *e = keel_err_new("m", 1, "bottom");
  for (int i = 0; i < KEEL_ERR_MAX_CHAIN * 2; i++) e = keel_err_wrap(e, "m", NULL, "w%d", i);
  char *json;
  size_t len;
  KT_CHECK_EQ(keel_err_encode(e, &json, &len), 0);
  keel_err *d = NULL;
  char why[200];
  int r = keel_err_decode(json, len, &d, NULL, why, sizeof why);
  if (r) fprintf(stderr, "  %s\n", why);
  KT_CHECK_EQ(r, 0);
  KT_CHECK(strstr(json, "\"truncated\":true") != NULL);
  keel_err_release(d);
  free(json);
  keel_err_release(e);
}

/* ---- corpus replay and mutations ------------------------------------------------ */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Decodes; when accepted, re-encoding must decode and re-encode identically. */
static bool check_input(const char *data, size_t len) {
  keel_err *e = NULL;
  char why[200];
  int r = keel_err_decode(data, len, &e, NULL, why, sizeof why);
  if (r != 0) return r == KEEL_EPROTO && why[0] != 0 && e == NULL;
  char *a, *b;
  size_t alen, blen;
  bool ok = keel_err_encode(e, &a, &alen) == 0;
  keel_err *e2 = NULL;
  ok = ok && keel_err_decode(a, alen, &e2, NULL, NULL, 0) == 0;
  ok = ok && keel_err_encode(e2, &b, &blen) == 0;
  ok = ok && alen == blen && memcmp(a, b, alen) == 0;
  if (ok) free(b);
  free(a);
  keel_err_release(e);
  keel_err_release(e2);
  return ok;
}

static void mutate(char *buf, size_t *len, size_t cap) {
  static const char *const tokens[] = {"{", "}", "[", "]", ",", ":", "\"", "\\",
                                       "null", "true", "1e999", "-0", "\\u", "\xff",
                                       "\"inner\":", "\"joined\":[", "\"message\":"};
  int k = (int)(next_random() % 5);
  size_t at = *len ? next_random() % *len : 0;
  if (k == 0 && *len) {
    buf[at] = (char)next_random();
  } else if (k == 1 && *len) {
    *len = at;
  } else if (k == 2 && *len) {
    memmove(buf + at, buf + at + 1, *len - at - 1);
    (*len)--;
  } else {
    const char *t = tokens[next_random() % (sizeof tokens / sizeof tokens[0])];
    size_t tl = strlen(t);
    if (*len + tl >= cap) return;
    memmove(buf + at + tl, buf + at, *len - at);
    memcpy(buf + at, t, tl);
    *len += tl;
  }
}

KT_TEST(corpus_and_mutations_never_crash) {
  char dir[1024];
  const char *src = getenv("KEEL_SOURCE_DIR");
  snprintf(dir, sizeof dir, "%s/tests/err/corpus", src ? src : ".");
  DIR *d = opendir(dir);
  KT_CHECK(d != NULL);
  char *seeds[64];
  size_t seed_len[64];
  int nseeds = 0;
  struct dirent *ent;
  while ((ent = readdir(d)) && nseeds < 64) {
    if (ent->d_name[0] == '.') continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    seeds[nseeds] = et_read_file(path, &seed_len[nseeds]);
    if (seeds[nseeds]) nseeds++;
  }
  closedir(d);
  KT_CHECK(nseeds >= 4);
  int accepted = 0;
  for (int i = 0; i < nseeds; i++) {
    bool ok = check_input(seeds[i], seed_len[i]);
    if (!ok) fprintf(stderr, "  seed %d fails\n", i);
    KT_CHECK(ok);
  }
  /* TSan makes each round ~15x slower: fewer there, the fuzzer goes further */
  int rounds = KT_SANITIZED() ? 3000 : 60000;
  size_t cap = 1 << 16;
  char *buf = malloc(cap);
  for (int r = 0; r < rounds; r++) {
    int s = (int)(next_random() % (uint64_t)nseeds);
    size_t len = seed_len[s] < cap ? seed_len[s] : cap;
    memcpy(buf, seeds[s], len);
    int edits = 1 + (int)(next_random() % 4);
    for (int k = 0; k < edits; k++) mutate(buf, &len, cap);
    bool ok = check_input(buf, len);
    if (!ok) {
      fprintf(stderr, "  mutation failed: %.*s\n", (int)len, buf);
      KT_CHECK(ok);
    }
    keel_err *e = NULL;
    if (keel_err_decode(buf, len, &e, NULL, NULL, 0) == 0) accepted++;
    keel_err_release(e);
  }
  KT_CHECK(accepted > 0);   /* the mutations reach the decoder's inner parts */
  free(buf);
  for (int i = 0; i < nseeds; i++) free(seeds[i]);
}

KT_MAIN()
