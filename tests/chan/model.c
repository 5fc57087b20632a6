/* A property test: random non-blocking operations (send, receive, close,
 * select over random cases, including NULL and repeated channels) on a few
 * channels, each result checked against a plain model of Go's semantics
 * (a FIFO queue of at most `capacity` values and a closed flag). Also checks
 * that every ready case of a select gets chosen about equally often. */
#include "keel_test.h"

#include "chan_test_util.h"

enum { NCH = 5, MAXCAP = 4, STEPS = 1000000 };

typedef struct model {
  int vals[MAXCAP];
  int head, len, cap;
  bool closed;
} model;

static bool ready(const model *m, int op) {
  if (m->closed) return true;
  return op == KEEL_SELECT_RECV ? m->len > 0 : m->len < m->cap;
}

static void model_send(model *m, int v) {
  m->vals[(m->head + m->len) % MAXCAP] = v;
  m->len++;
}

static int model_recv(model *m) {
  int v = m->vals[m->head];
  m->head = (m->head + 1) % MAXCAP;
  m->len--;
  return v;
}

KT_TEST(random_operations_match_the_model) {
  keel_chan *c[NCH];
  model m[NCH];
  uint64_t rng = 12345;
  int next = 1;
  long chosen_when_two_ready[2] = {0, 0};
  int steps = KT_SANITIZED() ? STEPS / 4 : STEPS;
  for (int i = 0; i < NCH; i++) {
    m[i] = (model){.cap = i % MAXCAP};  /* 0, 1, 2, 3, 0 */
    KT_CHECK_EQ(keel_chan_make(&c[i], sizeof(int), (size_t)m[i].cap), 0);
  }
  for (int step = 0; step < steps; step++) {
    int k = (int)(ct_rand(&rng) % NCH);
    int what = (int)(ct_rand(&rng) % 100);
    if (what < 2) {  /* close, then sometimes replace the channel */
      int rc = keel_chan_close(c[k]);
      KT_CHECK_EQ(rc, m[k].closed ? KEEL_ECLOSED : 0);
      m[k].closed = true;
      if (m[k].len == 0 && ct_rand(&rng) % 2) {
        keel_chan_release(c[k]);
        KT_CHECK_EQ(keel_chan_make(&c[k], sizeof(int), (size_t)m[k].cap), 0);
        m[k] = (model){.cap = m[k].cap};
      }
    } else if (what < 35) {
      int v = next++;
      int rc = keel_chan_send(c[k], &v, KEEL_NOWAIT);
      int want = m[k].closed ? KEEL_ECLOSED : m[k].len < m[k].cap ? 0 : KEEL_EAGAIN;
      KT_CHECK_EQ(rc, want);
      if (rc == 0) model_send(&m[k], v);
    } else if (what < 65) {
      int v = -1;
      int rc = keel_chan_recv(c[k], &v, KEEL_NOWAIT);
      int want = m[k].len > 0 ? 0 : m[k].closed ? KEEL_ECLOSED : KEEL_EAGAIN;
      KT_CHECK_EQ(rc, want);
      if (rc == 0) KT_CHECK_EQ(v, model_recv(&m[k]));
      if (rc == KEEL_ECLOSED) KT_CHECK_EQ(v, 0);
    } else {
      keel_select_case cs[6];
      int idx[6], vals[6];
      int n = 1 + (int)(ct_rand(&rng) % 6), nready = 0;
      for (int i = 0; i < n; i++) {
        int op = ct_rand(&rng) % 2 ? KEEL_SELECT_SEND : KEEL_SELECT_RECV;
        idx[i] = ct_rand(&rng) % 8 == 0 ? -1 : (int)(ct_rand(&rng) % NCH);
        vals[i] = op == KEEL_SELECT_SEND ? next++ : -1;
        cs[i] = (keel_select_case){.chan = idx[i] < 0 ? NULL : c[idx[i]], .op = op,
                                   .elem = &vals[i], .result = 99};
        if (idx[i] >= 0 && ready(&m[idx[i]], op)) nready++;
      }
      int r = keel_chan_select(cs, (size_t)n, KEEL_NOWAIT);
      if (nready == 0) {
        KT_CHECK_EQ(r, KEEL_EAGAIN);
        continue;
      }
      KT_CHECK(r >= 0 && r < n);
      KT_CHECK(idx[r] >= 0);
      model *mm = &m[idx[r]];
      KT_CHECK(ready(mm, cs[r].op));
      for (int i = 0; i < n; i++)
        if (i != r) KT_CHECK_EQ(cs[i].result, 99);  /* only the chosen is written */
      if (cs[r].op == KEEL_SELECT_SEND) {
        KT_CHECK_EQ(cs[r].result, mm->closed ? KEEL_ECLOSED : 0);
        if (!mm->closed) model_send(mm, vals[r]);
      } else if (mm->len > 0) {
        KT_CHECK_EQ(cs[r].result, 0);
        KT_CHECK_EQ(vals[r], model_recv(mm));
      } else {
        KT_CHECK_EQ(cs[r].result, KEEL_ECLOSED);
        KT_CHECK_EQ(vals[r], 0);
      }
      if (nready == 2 && n == 2) chosen_when_two_ready[r]++;
    }
  }
  for (int i = 0; i < NCH; i++) {
    KT_CHECK_EQ(keel_chan_len(c[i]), (size_t)m[i].len);
    KT_CHECK_EQ(keel_chan_is_closed(c[i]), m[i].closed);
    keel_chan_release(c[i]);
  }
  /* With two ready cases, each is chosen about half the time. */
  long total = chosen_when_two_ready[0] + chosen_when_two_ready[1];
  fprintf(stderr, "  two ready: %ld / %ld\n", chosen_when_two_ready[0], chosen_when_two_ready[1]);
  KT_CHECK(total > 100);
  KT_CHECK(chosen_when_two_ready[0] > total * 4 / 10 && chosen_when_two_ready[1] > total * 4 / 10);
}

KT_MAIN()
