/* netpoll.c — waiting on file descriptors (keel_fd_wait) with epoll.
 *
 * One poller thread blocks in epoll_wait. Each fd number has a poll
 * descriptor (pd) with a list of waiters (nodes on the waiters' stacks) under
 * a spinlock. A wait links its node, then (re)arms the fd in epoll with
 * EPOLLONESHOT and the union of the events its waiters want (level
 * triggered: an fd that is already ready reports at once, so no readiness is
 * missed between a failed read and the wait). The poller, under the pd's
 * lock, claims and wakes every waiter whose events are ready, and re-arms
 * for the rest. The waiter unlinks itself under the same lock after its park
 * (deadline and cancel come from the waiter protocol), so nodes are never
 * touched after their owner returned.
 *
 * The same path serves tasks (which park) and plain threads (which block on
 * the waiter's futex), so cancel interrupts both.
 *
 * pds live in a two-level table indexed by fd (chunks allocated on demand
 * with a CAS, freed when the poller stops). keel_fd_close evicts: under the
 * pd's lock it marks the pd closing, wakes every waiter with KEEL_ECLOSED
 * and removes the fd from epoll; a wait that links while the mark is set
 * gets KEEL_ECLOSED too; the mark is lifted once close() returned, so the
 * fd number's next owner starts clean. An fd closed with plain close()
 * while someone waits just stops reporting (epoll forgets it); the waiter
 * ends by deadline or cancel. Regular files cannot be polled: they are
 * always ready. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "runtime/internal.h"

#define CHUNK_BITS 10
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define NCHUNKS 4096u  /* fds below 4M */

typedef struct np_node {
  keel_waiter w;
  unsigned events;
  struct np_node *prev, *next;
} np_node;

typedef struct np_pd {
  _Atomic int lock;
  int fd;
  bool registered;
  bool closing;        /* keel_fd_close in progress */
  np_node *waiters;
} np_pd;

static struct {
  pthread_mutex_t lock;
  _Atomic int running;
  int epfd, evfd;
  pthread_t thread;
  np_pd *_Atomic chunks[NCHUNKS];
} np = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .evfd = -1};

static unsigned to_keel(uint32_t ev) {
  unsigned r = 0;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) r |= KEEL_FD_READ;
  if (ev & EPOLLOUT) r |= KEEL_FD_WRITE;
  if (ev & (EPOLLERR | EPOLLHUP)) r |= KEEL_FD_READ | KEEL_FD_WRITE;
  return r;
}

static uint32_t to_epoll(unsigned ev) {
  uint32_t r = EPOLLONESHOT | EPOLLRDHUP;
  if (ev & KEEL_FD_READ) r |= EPOLLIN;
  if (ev & KEEL_FD_WRITE) r |= EPOLLOUT;
  return r;
}

/* Re-arms pd for its waiters' events; under pd->lock. 0 or an errno. */
static int arm_locked(np_pd *pd) {
  unsigned want = 0;
  for (np_node *n = pd->waiters; n; n = n->next) want |= n->events;
  if (!want) return 0;
  struct epoll_event ev = {.events = to_epoll(want), .data.ptr = pd};
  int op = pd->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(np.epfd, op, pd->fd, &ev) != 0) {
    int e = errno;
    if (e == ENOENT || e == EEXIST) {
      op = e == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
      if (epoll_ctl(np.epfd, op, pd->fd, &ev) != 0) return errno;
    } else {
      return e;
    }
  }
  pd->registered = true;
  return 0;
}

/* Marks an unlinked node detached (its owner then skips the unlink) and
 * wakes its owner with r, unless a deadline or cancel claimed it first.
 * Under the pd's lock. */
static void node_wake(np_node *node, int32_t r) {
  node->prev = node->next = node;
  if (keel_waiter_claim(&node->w, r)) keel_waiter_wake(&node->w);
}

static void *poller_main(void *arg) {
  (void)arg;
  struct epoll_event evs[128];
  for (;;) {
    int n = epoll_wait(np.epfd, evs, 128, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; i++) {
      np_pd *pd = evs[i].data.ptr;
      if (!pd) return NULL;  /* the stop event */
      unsigned ready = to_keel(evs[i].events);
      keel__spin_lock(&pd->lock);
      np_node *node = pd->waiters;
      while (node) {
        np_node *next = node->next;
        if (node->events & ready) {
          if (node->prev) node->prev->next = next; else pd->waiters = next;
          if (next) next->prev = node->prev;
          node_wake(node, (int32_t)ready);
        }
        node = next;
      }
      arm_locked(pd);  /* one-shot: re-arm for those still waiting */
      keel__spin_unlock(&pd->lock);
    }
  }
  return NULL;
}

static int np_ensure(void) {
  if (atomic_load_explicit(&np.running, memory_order_acquire)) return 0;
  int rc = keel__rt_ensure();
  if (rc) return rc;
  pthread_mutex_lock(&np.lock);
  if (!atomic_load(&np.running)) {
    np.epfd = epoll_create1(EPOLL_CLOEXEC);
    np.evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (np.epfd < 0 || np.evfd < 0 ||
        epoll_ctl(np.epfd, EPOLL_CTL_ADD, np.evfd, &ev) != 0 ||
        pthread_create(&np.thread, NULL, poller_main, NULL) != 0 ||
        (pthread_setname_np(np.thread, "keel-poller"), false)) {
      if (np.epfd >= 0) close(np.epfd);
      if (np.evfd >= 0) close(np.evfd);
      np.epfd = np.evfd = -1;
      rc = KEEL_ENOMEM;
    } else {
      atomic_store_explicit(&np.running, 1, memory_order_release);
    }
  }
  pthread_mutex_unlock(&np.lock);
  return rc;
}

/* The pd of fd if its chunk exists (no allocation: no chunk, no waiter). */
static np_pd *pd_find(int fd) {
  unsigned c = (unsigned)fd >> CHUNK_BITS;
  if (c >= NCHUNKS) return NULL;
  np_pd *chunk = atomic_load_explicit(&np.chunks[c], memory_order_acquire);
  return chunk ? &chunk[(unsigned)fd & (CHUNK_SIZE - 1)] : NULL;
}

/* The pd of fd, making its chunk if needed (NULL: fd too large, or no memory). */
static np_pd *pd_get(int fd) {
  np_pd *pd = pd_find(fd);
  unsigned c = (unsigned)fd >> CHUNK_BITS;
  if (pd || c >= NCHUNKS) return pd;
  np_pd *fresh = calloc(CHUNK_SIZE, sizeof *fresh), *chunk = NULL;
  if (!fresh) return NULL;
  for (unsigned i = 0; i < CHUNK_SIZE; i++) fresh[i].fd = (int)((c << CHUNK_BITS) | i);
  if (atomic_compare_exchange_strong_explicit(&np.chunks[c], &chunk, fresh,
                                              memory_order_acq_rel,
                                              memory_order_acquire))
    chunk = fresh;
  else
    free(fresh);   /* another thread made it: chunk is theirs */
  return &chunk[(unsigned)fd & (CHUNK_SIZE - 1)];
}

int keel_fd_wait(int fd, unsigned events, int64_t deadline,
                 const keel_cancel *cancel) {
  if (fd < 0 || events == 0 || (events & ~(KEEL_FD_READ | KEEL_FD_WRITE)))
    return KEEL_EINVAL;
  if (fcntl(fd, F_GETFD) < 0) return KEEL_EINVAL;
  int code = keel_cancel_code(cancel);
  if (code) return code;
  int rc = np_ensure();
  if (rc) return rc;
  np_pd *pd = pd_get(fd);
  if (!pd) return (unsigned)fd >> CHUNK_BITS >= NCHUNKS ? KEEL_EINVAL : KEEL_ENOMEM;
  np_node n;
  keel_waiter_init(&n.w);
  n.events = events;
  keel__spin_lock(&pd->lock);
  if (pd->closing) {
    keel__spin_unlock(&pd->lock);
    return KEEL_ECLOSED;
  }
  n.prev = NULL;
  n.next = pd->waiters;
  if (n.next) n.next->prev = &n;
  pd->waiters = &n;
  int err = arm_locked(pd);
  if (err) {
    pd->waiters = n.next;
    if (n.next) n.next->prev = NULL;
    keel__spin_unlock(&pd->lock);
    if (err == EPERM) return (int)events;  /* regular file: always ready */
    return err == ENOMEM || err == ENOSPC ? KEEL_ENOMEM : KEEL_EINVAL;
  }
  keel__spin_unlock(&pd->lock);
  int32_t r = keel_waiter_park(&n.w, deadline, cancel);
  keel__spin_lock(&pd->lock);
  if (n.prev != &n) {  /* still linked: deadline or cancel */
    if (n.prev) n.prev->next = n.next; else pd->waiters = n.next;
    if (n.next) n.next->prev = n.prev;
  }
  keel__spin_unlock(&pd->lock);
  return r;
}

int keel_fd_close(int fd) {
  if (fd < 0) return KEEL_EINVAL;
  np_pd *pd = atomic_load_explicit(&np.running, memory_order_acquire) ? pd_find(fd) : NULL;
  if (pd) {
    keel__spin_lock(&pd->lock);
    pd->closing = true;
    for (np_node *node = pd->waiters, *next; node; node = next) {
      next = node->next;
      node_wake(node, KEEL_ECLOSED);
    }
    pd->waiters = NULL;
    if (pd->registered) epoll_ctl(np.epfd, EPOLL_CTL_DEL, fd, NULL);
    pd->registered = false;
    keel__spin_unlock(&pd->lock);
  }
  int rc = close(fd) == 0 || errno == EINTR ? 0 : KEEL_EINVAL;  /* EINTR: closed (Linux) */
  if (pd) {
    keel__spin_lock(&pd->lock);
    pd->closing = false;
    keel__spin_unlock(&pd->lock);
  }
  return rc;
}

void keel__netpoll_stop(void) {
  pthread_mutex_lock(&np.lock);
  if (atomic_load(&np.running)) {
    uint64_t one = 1;
    ssize_t w = write(np.evfd, &one, sizeof one);
    (void)w;
    pthread_join(np.thread, NULL);
    close(np.epfd);
    close(np.evfd);
    np.epfd = np.evfd = -1;
    for (unsigned c = 0; c < NCHUNKS; c++) {
      np_pd *chunk = atomic_exchange(&np.chunks[c], NULL);
      free(chunk);
    }
    atomic_store(&np.running, 0);
  }
  pthread_mutex_unlock(&np.lock);
}
