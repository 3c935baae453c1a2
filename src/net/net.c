/* net.c - libuv I/O threads, listeners, connections, framing and ordered
 * response slots. See net.h for the model.
 *
 * Read path: bytes land in a 64 KiB staging buffer per connection; small
 * frames are copied out of it into their own heap buffer (so the handler
 * can keep the frame while the staging buffer is reused); a frame larger
 * than the staging buffer gets its own buffer and later reads go straight
 * into it: its exact size up to 1 MiB (so a 1 MiB produce is never copied
 * by net), else 1 MiB grown by doubling as bytes arrive (realloc, which
 * moves pages rather than bytes at these sizes), so a peer announcing a
 * large frame and sending little of it holds little memory.
 *
 * Memory bounds. A connection's in-flight count covers its requests being
 * handled AND its responses not yet written to the socket (until the
 * uv_write callback): at max_inflight it is not read, so a client that
 * pipelines and never reads holds at most max_inflight responses here.
 * The memory budget counts the request bytes of unfinished requests plus
 * the bytes received so far of frames still arriving; above it no
 * connection is read, except one (at a time) whose frame is partly in,
 * which may finish it (the budget token): otherwise partial frames holding
 * the budget could never complete and nothing would be read again.
 * A connection that is not read does not see its peer's EOF: the sweep
 * timer looks at the TCP state of paused connections and closes those the
 * peer closed, so their queued responses are freed. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

#define RMQ_NET_RBUF (64 * 1024)
/* a frame up to this size gets its exact buffer at once; a larger one
 * starts with this much and doubles as its bytes arrive */
#define RMQ_NET_BIG_FIRST (1024 * 1024)
/* Over the budget the token holder reads alone, so every other connection
 * waits for its frame: a holder that brings in less than RMQ_NET_TOKEN_MIN_BPS
 * over a window of RMQ_NET_TOKEN_WINDOW_MS is closed, so a client that stops
 * or trickles bytes mid-frame cannot stall everyone until the idle timeout. */
#define RMQ_NET_TOKEN_WINDOW_MS 10000
#define RMQ_NET_TOKEN_MIN_BPS (64 * 1024)

typedef struct rmq_net_post {
    struct rmq_net_post *next;
    void (*fn)(void *);
    void *ud;
} rmq_net_post_t;

struct rmq_net_loop {
    rmq_net_t *net;
    int idx;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t async;
    uv_timer_t sweep;
    uv_thread_t thread;
    pthread_mutex_t mu;
    rmq_net_post_t *post_head, *post_tail;
    atomic_bool posted;    /* post_head may be non-empty: run_posts has work */
    bool closed_posts;
    rmq_net_conn_t *conns; /* intrusive list */
    atomic_int nconns;     /* connections this loop serves (read by other loops' accepts) */
    atomic_int nbusy;      /* of those, marked busy (rmq_net_conn_mark_busy) */
};

struct rmq_net_slot {
    rmq_net_conn_t *conn;
    rmq_net_slot_t *next;
    bool done;
    uint8_t *data; /* owned */
    size_t len;
    rmq_buf_ext_t *ext; /* owned array; the bytes it points at are borrowed until release */
    size_t n_ext;
    void (*release)(void *ud);
    void *release_ud;
    size_t frame_len; /* request bytes charged to the memory budget */
};

struct rmq_net_conn {
    uv_tcp_t tcp;
    rmq_net_loop_t *loop;
    rmq_net_conn_t *prev, *next;
    uint64_t id;
    char peer[64];
    int refs;
    bool closed;
    bool reading;
    bool handle_closed;
    bool processing; /* guards rmq_net_conn_process against re-entry */
    bool busy;       /* counted in loop->nbusy */
    rmq_net_slot_t *slot_head, *slot_tail;
    uint32_t inflight; /* requests being handled + responses not yet written (the uv_write callback) */
    uint32_t unsent;   /* of those, responses handed to uv_write */
    bool token;        /* holds the budget token (rmq_net_budget_lets) */
    uint64_t token_ms; /* start of the token holder's progress window, and */
    size_t token_have; /* how much of its frame it had then */
    uint8_t *rbuf;
    size_t rlen;
    uint8_t *big; /* frame in progress larger than the staging buffer (owned) */
    size_t big_len, big_have, big_cap; /* announced size, bytes in (charged to the budget), allocated */
    uint64_t last_active_ms;
    void *ud;
};

struct rmq_net {
    rmq_net_config_t cfg;
    char *listen_copy;
    rmq_net_loop_t *loops;
    int nloops;
    int port;
    atomic_uint_fast64_t next_conn_id;
    atomic_int_fast64_t open_conns;
    atomic_int_fast64_t total_inflight;
    atomic_uint_fast64_t st_total, st_frames, st_bytes_in, st_bytes_out, st_rejected, st_pauses;
    atomic_uint_fast64_t buffered; /* request bytes of unfinished slots and of frames arriving */
    atomic_uint_fast64_t budget_token; /* id of the connection that may read over the budget (0 = none) */
    atomic_int_fast64_t total_unsent;  /* responses handed to uv_write, not yet written */
    atomic_bool stopping;
};

static uint64_t rmq_net_now_ms(void) { return rmq_mono_ns() / 1000000; }

rmq_err_t rmq_net_parse_hostport(const char *s, char *host, size_t hostlen, int *port) {
    if (!s || !*s) return RMQ_ERR_INVALID_ARG;
    const char *colon;
    const char *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':') return RMQ_ERR_INVALID_ARG;
        h = s + 1;
        hl = (size_t)(e - h);
        colon = e + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return RMQ_ERR_INVALID_ARG;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen) return RMQ_ERR_INVALID_ARG;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535) return RMQ_ERR_INVALID_ARG;
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (int)p;
    return 0;
}

/* ---------------- connection lifetime ---------------- */

static bool rmq_net_over_budget(rmq_net_t *n) {
    return n->cfg.max_buffered_bytes && atomic_load(&n->buffered) > n->cfg.max_buffered_bytes;
}

/* May c read as far as the memory budget goes? Under the budget, yes.
 * Over it only the one connection holding the budget token, which goes to
 * a connection whose frame is partly in and is given back when that frame
 * is complete, the connection stops reading or closes: partial frames
 * count against the budget, so without it a budget filled by partial
 * frames would never drain. */
static bool rmq_net_budget_lets(rmq_net_conn_t *c) {
    rmq_net_t *n = c->loop->net;
    if (!rmq_net_over_budget(n)) return true;
    if (!c->big) return false;
    if (c->token) return true;
    uint_fast64_t none = 0;
    if (atomic_compare_exchange_strong(&n->budget_token, &none, c->id)) {
        c->token = true;
        c->token_ms = rmq_net_now_ms();
        c->token_have = c->big_have;
    }
    return c->token;
}

static void rmq_net_token_drop(rmq_net_conn_t *c) {
    if (!c->token) return;
    c->token = false;
    atomic_store(&c->loop->net->budget_token, 0);
}

/* Should c be read now (in-flight limit, budget, stop)? */
static bool rmq_net_may_read(rmq_net_conn_t *c) {
    rmq_net_t *n = c->loop->net;
    return !c->closed && !atomic_load(&n->stopping) && c->inflight < n->cfg.max_inflight && rmq_net_budget_lets(c);
}

/* Forget the frame in progress (connection closing): free it and give its
 * received bytes back to the budget. */
static void rmq_net_big_drop(rmq_net_conn_t *c) {
    if (!c->big) return;
    atomic_fetch_sub(&c->loop->net->buffered, c->big_have);
    free(c->big);
    c->big = NULL;
    c->big_len = c->big_have = c->big_cap = 0;
}

/* Drop a slot's response without sending it: free the buffer and let the
 * owner of the external parts have them back. */
static void rmq_net_slot_drop_data(rmq_net_slot_t *s) {
    free(s->data);
    s->data = NULL;
    free(s->ext);
    s->ext = NULL;
    if (s->release) s->release(s->release_ud);
    s->release = NULL;
}

/* Free a finished slot and give its bytes back to the budget. */
static void rmq_net_slot_free(rmq_net_t *n, rmq_net_slot_t *s) {
    atomic_fetch_sub(&n->buffered, s->frame_len);
    free(s);
}

static void rmq_net_conn_free(rmq_net_conn_t *c) {
    free(c->rbuf);
    free(c->big);
    free(c);
}

void rmq_net_conn_ref(rmq_net_conn_t *c) { c->refs++; }

void rmq_net_conn_unref(rmq_net_conn_t *c) {
    if (--c->refs == 0) rmq_net_conn_free(c);
}

static void rmq_net_on_handle_closed(uv_handle_t *h) {
    rmq_net_conn_t *c = h->data;
    c->handle_closed = true;
    rmq_net_conn_unref(c);
}

static void rmq_net_conn_do_close(rmq_net_conn_t *c) {
    if (c->closed) return;
    c->closed = true;
    rmq_net_t *n = c->loop->net;
    /* unlink */
    if (c->prev) c->prev->next = c->next;
    else c->loop->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    atomic_fetch_sub(&n->open_conns, 1);
    atomic_fetch_sub(&c->loop->nconns, 1);
    if (c->busy) atomic_fetch_sub(&c->loop->nbusy, 1);
    if (n->cfg.on_close) n->cfg.on_close(n->cfg.ud, c);
    rmq_net_big_drop(c);
    rmq_net_token_drop(c);
    /* completed-but-unsent slots are dropped now; pending ones are freed
     * by rmq_net_slot_complete when their handler finishes */
    rmq_net_slot_t *s = c->slot_head, *prev = NULL;
    while (s) {
        rmq_net_slot_t *nx = s->next;
        if (s->done) {
            if (prev) prev->next = nx;
            else c->slot_head = nx;
            if (c->slot_tail == s) c->slot_tail = prev;
            rmq_net_slot_drop_data(s);
            rmq_net_slot_free(n, s);
            c->inflight--;
            atomic_fetch_sub(&n->total_inflight, 1);
            rmq_net_conn_unref(c);
        } else {
            prev = s;
        }
        s = nx;
    }
    uv_close((uv_handle_t *)&c->tcp, rmq_net_on_handle_closed);
}

void rmq_net_conn_close(rmq_net_conn_t *c, const char *reason) {
    if (c->closed) return;
    RMQ_WARN("net", "msg=\"closing connection\" peer=%s conn=%llu reason=\"%s\"", c->peer,
             (unsigned long long)c->id, reason ? reason : "");
    rmq_net_conn_do_close(c);
}

const char *rmq_net_conn_peer(const rmq_net_conn_t *c) { return c->peer; }
uint64_t rmq_net_conn_id(const rmq_net_conn_t *c) { return c->id; }
rmq_net_loop_t *rmq_net_conn_loop(rmq_net_conn_t *c) { return c->loop; }
void rmq_net_conn_mark_busy(rmq_net_conn_t *c) {
    if (c->busy || c->closed) return;
    c->busy = true;
    atomic_fetch_add(&c->loop->nbusy, 1);
}
int rmq_net_conn_closed(const rmq_net_conn_t *c) { return c->closed; }
void rmq_net_conn_set_ud(rmq_net_conn_t *c, void *ud) { c->ud = ud; }
void *rmq_net_conn_get_ud(const rmq_net_conn_t *c) { return c->ud; }
rmq_net_conn_t *rmq_net_slot_conn(rmq_net_slot_t *slot) { return slot->conn; }

/* ---------------- write path ---------------- */

typedef struct {
    uv_write_t req;
    uint8_t *data;
    void (*release)(void *ud); /* the external parts' owner, once written */
    void *release_ud;
} rmq_net_wreq_t;

static void rmq_net_conn_process(rmq_net_conn_t *c);
static void rmq_net_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *b);
static void rmq_net_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void rmq_net_loop_run_posts(rmq_net_loop_t *l);
static void rmq_net_maybe_resume(rmq_net_conn_t *c);

/* A response left in-flight accounting: written, failed or cancelled. */
static void rmq_net_unsent_done(rmq_net_conn_t *c) {
    rmq_net_t *n = c->loop->net;
    c->inflight--;
    c->unsent--;
    atomic_fetch_sub(&n->total_inflight, 1);
    atomic_fetch_sub(&n->total_unsent, 1);
}

/* The response is in the socket (or the write failed, or was cancelled by
 * the close): only now does it stop counting against max_inflight. */
static void rmq_net_on_write(uv_write_t *req, int status) {
    rmq_net_wreq_t *w = (rmq_net_wreq_t *)req;
    rmq_net_conn_t *c = req->data;
    free(w->data);
    if (w->release) w->release(w->release_ud);
    free(w);
    rmq_net_unsent_done(c);
    if ((status == UV_ECONNRESET || status == UV_EPIPE) && !c->closed) {
        /* the client went away with responses unread: its doing, like EOF */
        RMQ_DEBUG("net", "msg=\"peer closed with responses unread\" peer=%s conn=%llu err=%s", c->peer,
                  (unsigned long long)c->id, uv_strerror(status));
        rmq_net_conn_do_close(c);
    } else if (status < 0 && !c->closed) {
        char why[128];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        rmq_net_conn_close(c, why);
    } else if (!c->closed) {
        c->last_active_ms = rmq_net_now_ms();
        if (!c->reading) rmq_net_maybe_resume(c);
    }
    rmq_net_conn_unref(c);
}

static void rmq_net_maybe_resume(rmq_net_conn_t *c) {
    if (c->closed || c->processing || atomic_load(&c->loop->net->stopping)) return;
    rmq_net_conn_process(c); /* frames already buffered first, within the limits */
    if (c->reading || !rmq_net_may_read(c)) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, rmq_net_alloc, rmq_net_on_read) == 0) c->reading = true;
}

static void rmq_net_conn_flush(rmq_net_conn_t *c) {
    rmq_net_t *n = c->loop->net;
    while (c->slot_head && c->slot_head->done) {
        rmq_net_slot_t *s = c->slot_head;
        c->slot_head = s->next;
        if (!c->slot_head) c->slot_tail = NULL;
        /* in flight until written: counted as unsent now, released by
         * rmq_net_on_write (or below if nothing is written) */
        c->unsent++;
        atomic_fetch_add(&n->total_unsent, 1);
        if (s->data && s->len && !c->closed) {
            rmq_net_wreq_t *w = malloc(sizeof *w);
            /* the buffer cut at each external part's place, the part in
             * between (a fetch of up to 31 partitions fits the stack) */
            size_t nb = 1 + 2 * s->n_ext;
            uv_buf_t stackb[64], *b = nb <= 64 ? stackb : malloc(nb * sizeof(*b));
            if (!w || !b) {
                free(w);
                if (b != stackb) free(b);
                rmq_net_slot_drop_data(s);
                rmq_net_unsent_done(c);
                rmq_net_conn_close(c, "out of memory writing response");
            } else {
                size_t k = 0, at = 0, total = s->len;
                for (size_t i = 0; i < s->n_ext; i++) {
                    if (s->ext[i].at > at) b[k++] = uv_buf_init((char *)s->data + at, (unsigned)(s->ext[i].at - at));
                    b[k++] = uv_buf_init((char *)s->ext[i].ptr, (unsigned)s->ext[i].len);
                    at = s->ext[i].at;
                    total += s->ext[i].len;
                }
                if (s->len > at) b[k++] = uv_buf_init((char *)s->data + at, (unsigned)(s->len - at));
                w->data = s->data;
                w->release = s->release;
                w->release_ud = s->release_ud;
                s->data = NULL;
                s->release = NULL;
                free(s->ext); /* uv_write copies the buffer list */
                s->ext = NULL;
                w->req.data = c;
                rmq_net_conn_ref(c);
                int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, b, (unsigned)k, rmq_net_on_write);
                if (b != stackb) free(b);
                if (rc < 0) {
                    free(w->data);
                    if (w->release) w->release(w->release_ud);
                    free(w);
                    rmq_net_conn_unref(c);
                    rmq_net_unsent_done(c);
                    rmq_net_conn_close(c, "write failed");
                } else {
                    atomic_fetch_add(&n->st_bytes_out, total);
                }
            }
        } else {
            rmq_net_slot_drop_data(s);
            rmq_net_unsent_done(c); /* nothing to write */
        }
        rmq_net_slot_free(n, s);
        rmq_net_conn_unref(c); /* the slot's reference */
    }
    rmq_net_maybe_resume(c);
}

void rmq_net_slot_complete(rmq_net_slot_t *slot, uint8_t *data, size_t len) {
    rmq_net_slot_complete_ext(slot, data, len, NULL, 0, NULL, NULL);
}

void rmq_net_slot_complete_ext(rmq_net_slot_t *slot, uint8_t *data, size_t len, rmq_buf_ext_t *ext, size_t n,
                               void (*release)(void *ud), void *ud) {
    rmq_net_conn_t *c = slot->conn;
    slot->done = true;
    slot->data = data;
    slot->len = len;
    slot->ext = ext;
    slot->n_ext = n;
    slot->release = release;
    slot->release_ud = ud;
    if (c->closed) {
        /* unlink this slot now; nobody will flush it */
        rmq_net_slot_t **pp = &c->slot_head, *prev = NULL;
        while (*pp && *pp != slot) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = slot->next;
            if (c->slot_tail == slot) c->slot_tail = prev;
        }
        c->inflight--;
        atomic_fetch_sub(&c->loop->net->total_inflight, 1);
        rmq_net_slot_drop_data(slot);
        rmq_net_slot_free(c->loop->net, slot);
        rmq_net_conn_unref(c);
        return;
    }
    c->last_active_ms = rmq_net_now_ms();
    rmq_net_conn_flush(c);
}

/* ---------------- read path ---------------- */

static void rmq_net_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *b) {
    (void)sugg;
    rmq_net_conn_t *c = h->data;
    if (c->big) {
        *b = uv_buf_init((char *)c->big + c->big_have, (unsigned)(c->big_cap - c->big_have));
        return;
    }
    *b = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(RMQ_NET_RBUF - c->rlen));
}

static void rmq_net_dispatch(rmq_net_conn_t *c, uint8_t *frame, size_t len) {
    rmq_net_t *n = c->loop->net;
    rmq_net_slot_t *s = calloc(1, sizeof *s);
    if (!s) {
        free(frame);
        atomic_fetch_sub(&n->buffered, len); /* the frame's bytes were charged when they arrived */
        rmq_net_conn_close(c, "out of memory");
        return;
    }
    s->conn = c;
    s->frame_len = len;
    rmq_net_conn_ref(c);
    if (c->slot_tail) c->slot_tail->next = s;
    else c->slot_head = s;
    c->slot_tail = s;
    c->inflight++;
    atomic_fetch_add(&n->total_inflight, 1);
    atomic_fetch_add(&n->st_frames, 1);
    n->cfg.on_frame(n->cfg.ud, c, s, frame, len);
}

/* Parse complete frames out of the staging buffer while the in-flight
 * budget allows. */
static void rmq_net_conn_process(rmq_net_conn_t *c) {
    rmq_net_t *n = c->loop->net;
    size_t off = 0;
    if (c->processing) return;
    c->processing = true;
    rmq_net_conn_ref(c);
    while (!c->closed && !c->big && c->inflight < n->cfg.max_inflight && !rmq_net_over_budget(n) &&
           c->rlen - off >= 4) {
        int32_t size = (int32_t)rmq_be32(c->rbuf + off);
        if (size <= 0 || (uint32_t)size > n->cfg.max_frame_bytes) {
            char why[128];
            snprintf(why, sizeof why, "malformed frame: size %d outside 1..%u", size, n->cfg.max_frame_bytes);
            atomic_fetch_add(&n->st_rejected, 1);
            rmq_net_conn_close(c, why);
            break;
        }
        size_t avail = c->rlen - off - 4;
        size_t cap = (size_t)size;
        if (avail < (size_t)size) {
            if ((size_t)size + 4 <= RMQ_NET_RBUF) break; /* the rest arrives in the staging buffer */
            if (cap > RMQ_NET_BIG_FIRST) cap = RMQ_NET_BIG_FIRST; /* > avail */
        }
        uint8_t *frame = malloc(cap);
        if (!frame) {
            rmq_net_conn_close(c, "out of memory for frame");
            break;
        }
        if (avail >= (size_t)size) {
            memcpy(frame, c->rbuf + off + 4, (size_t)size);
            off += 4 + (size_t)size;
            atomic_fetch_add(&n->buffered, (size_t)size);
            rmq_net_dispatch(c, frame, (size_t)size);
        } else {
            memcpy(frame, c->rbuf + off + 4, avail);
            c->big = frame;
            c->big_len = (size_t)size;
            c->big_have = avail;
            c->big_cap = cap;
            atomic_fetch_add(&n->buffered, avail);
            off = c->rlen;
        }
    }
    c->processing = false;
    if (!c->closed && off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    rmq_net_conn_unref(c);
}

static void rmq_net_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
    (void)b;
    rmq_net_conn_t *c = st->data;
    rmq_net_t *n = c->loop->net;
    if (nread == 0) return;
    if (nread < 0) {
        if (nread != UV_EOF && nread != UV_ECONNRESET) {
            char why[128];
            snprintf(why, sizeof why, "read error: %s", uv_strerror((int)nread));
            rmq_net_conn_close(c, why);
        } else {
            if (c->big || c->rlen)
                RMQ_WARN("net", "msg=\"client closed mid-frame\" peer=%s conn=%llu buffered=%zu", c->peer,
                         (unsigned long long)c->id, c->big ? c->big_have : c->rlen);
            rmq_net_conn_do_close(c);
        }
        return;
    }
    c->last_active_ms = rmq_net_now_ms();
    atomic_fetch_add(&n->st_bytes_in, (uint64_t)nread);
    if (c->big) {
        c->big_have += (size_t)nread;
        atomic_fetch_add(&n->buffered, (uint64_t)nread); /* counted from the first byte */
        if (c->big_have == c->big_len) {
            uint8_t *f = c->big;
            size_t len = c->big_len;
            c->big = NULL;
            c->big_len = c->big_have = c->big_cap = 0;
            rmq_net_token_drop(c);
            rmq_net_dispatch(c, f, len); /* its bytes stay charged, now to the slot */
        } else if (c->big_have == c->big_cap) {
            size_t cap = c->big_cap * 2 < c->big_len ? c->big_cap * 2 : c->big_len;
            uint8_t *p = realloc(c->big, cap);
            if (!p) {
                rmq_net_conn_close(c, "out of memory for frame");
                return;
            }
            c->big = p;
            c->big_cap = cap;
        }
    } else {
        c->rlen += (size_t)nread;
    }
    rmq_net_conn_process(c);
    if (!c->closed && c->reading && !rmq_net_may_read(c)) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        rmq_net_token_drop(c);
        if (rmq_net_over_budget(n)) atomic_fetch_add(&n->st_pauses, 1);
    }
    rmq_net_loop_run_posts(c->loop); /* c stays allocated: its handle holds a reference until closed */
}

/* ---------------- accept ---------------- */

static void rmq_net_conn_start(rmq_net_loop_t *l, rmq_net_conn_t *c);
static void rmq_net_on_adopt(void *ud);

/* A connection accepted by one loop but served by another: the socket (a
 * dup of the accepted one) travels in a loop post. */
typedef struct rmq_net_handoff {
    rmq_net_loop_t *loop;
    int fd;
} rmq_net_handoff_t;

static void rmq_net_free_handle(uv_handle_t *h) { free(h); }

/* The loop that should serve the next connection: the one with the fewest
 * busy connections, then the fewest connections, this one on a tie. Every
 * loop watches the listening socket and the kernel wakes whichever it likes
 * (often the same one every time), so without this a producer and a
 * consumer could share one I/O thread while the other sits idle. Counting
 * connections alone is not enough: a Kafka client keeps its idle bootstrap
 * connection beside the one it uses, so a consumer's and a producer's
 * busy connections (the 2nd and 4th accepted) landed on the same loop. */
static rmq_net_loop_t *rmq_net_pick_loop(rmq_net_loop_t *l) {
    rmq_net_t *n = l->net;
    rmq_net_loop_t *best = l;
    int least_busy = atomic_load(&l->nbusy), least = atomic_load(&l->nconns);
    for (int i = 0; i < n->nloops; i++) {
        int b = atomic_load(&n->loops[i].nbusy), k = atomic_load(&n->loops[i].nconns);
        if (b < least_busy || (b == least_busy && k < least)) {
            least_busy = b;
            least = k;
            best = &n->loops[i];
        }
    }
    return best;
}

/* Accept on l's listener and hand the socket to `to` (a less busy loop).
 * False if that failed before accepting (the caller accepts locally). */
static bool rmq_net_accept_for(rmq_net_loop_t *l, uv_stream_t *server, rmq_net_loop_t *to) {
    uv_tcp_t *tmp = malloc(sizeof *tmp);
    rmq_net_handoff_t *h = malloc(sizeof *h);
    if (!tmp || !h) {
        free(tmp);
        free(h);
        return false;
    }
    uv_tcp_init(&l->loop, tmp);
    if (uv_accept(server, (uv_stream_t *)tmp) != 0) {
        free(h);
        uv_close((uv_handle_t *)tmp, rmq_net_free_handle);
        return true; /* nothing to accept after all */
    }
    uv_os_fd_t fd = -1;
    h->fd = uv_fileno((uv_handle_t *)tmp, &fd) == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    h->loop = to;
    uv_close((uv_handle_t *)tmp, rmq_net_free_handle); /* our dup keeps the socket open */
    if (h->fd < 0) {
        RMQ_WARN("net", "msg=\"cannot hand a connection to another I/O thread, dropped\" err=\"%s\"",
                 strerror(errno));
        free(h);
        return true;
    }
    atomic_fetch_add(&to->nconns, 1); /* counted now, so a burst of accepts spreads */
    if (rmq_net_loop_post(to, rmq_net_on_adopt, h) != 0) { /* stopping */
        atomic_fetch_sub(&to->nconns, 1);
        close(h->fd);
        free(h);
    }
    return true;
}

/* A new connection of loop l with its read buffer and an initialised (not
 * yet connected) handle holding the one reference; NULL if out of memory. */
static rmq_net_conn_t *rmq_net_conn_alloc(rmq_net_loop_t *l) {
    rmq_net_conn_t *c = calloc(1, sizeof *c);
    uint8_t *rbuf = malloc(RMQ_NET_RBUF);
    if (!c || !rbuf) {
        free(c);
        free(rbuf);
        return NULL;
    }
    c->rbuf = rbuf;
    c->loop = l;
    c->refs = 1; /* the uv handle */
    uv_tcp_init(&l->loop, &c->tcp);
    c->tcp.data = c;
    return c;
}

/* Free a connection from rmq_net_conn_alloc that never started (not
 * registered, not counted): closing its handle drops the last reference. */
static void rmq_net_conn_discard(rmq_net_conn_t *c) {
    c->closed = true;
    uv_close((uv_handle_t *)&c->tcp, rmq_net_on_handle_closed);
}

static void rmq_net_on_connection(uv_stream_t *server, int status) {
    rmq_net_loop_t *l = server->data;
    if (status < 0) {
        RMQ_WARN("net", "msg=\"accept failed\" err=\"%s\"", uv_strerror(status));
        return;
    }
    rmq_net_loop_t *to = rmq_net_pick_loop(l);
    if (to != l && rmq_net_accept_for(l, server, to)) return;
    rmq_net_conn_t *c = rmq_net_conn_alloc(l);
    if (!c) {
        uv_tcp_t *tmp = malloc(sizeof *tmp);
        if (!tmp) return; /* the connection waits in the backlog */
        uv_tcp_init(&l->loop, tmp);
        (void)uv_accept(server, (uv_stream_t *)tmp);
        uv_close((uv_handle_t *)tmp, rmq_net_free_handle);
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        rmq_net_conn_discard(c);
        return;
    }
    atomic_fetch_add(&l->nconns, 1);
    rmq_net_conn_start(l, c);
}

/* Loop post (on the target loop): serve a socket another loop accepted
 * (counted in h->loop's nconns by the accepting loop). */
static void rmq_net_on_adopt(void *ud) {
    rmq_net_handoff_t *h = ud;
    rmq_net_loop_t *l = h->loop;
    int fd = h->fd;
    free(h);
    rmq_net_conn_t *c = NULL;
    if (!atomic_load(&l->net->stopping)) /* else: accepted just before the stop, not served */
        c = rmq_net_conn_alloc(l);
    if (c && uv_tcp_open(&c->tcp, fd) == 0) {
        rmq_net_conn_start(l, c);
        return;
    }
    close(fd);
    atomic_fetch_sub(&l->nconns, 1);
    if (c) rmq_net_conn_discard(c);
}

/* Register an accepted connection c of loop l (already counted in
 * l->nconns) and start reading. */
static void rmq_net_conn_start(rmq_net_loop_t *l, rmq_net_conn_t *c) {
    rmq_net_t *n = l->net;
    c->id = atomic_fetch_add(&n->next_conn_id, 1) + 1;
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    strcpy(c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            port = ntohs(a->sin_port);
            snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            port = ntohs(a->sin6_port);
            snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
        }
    }
    int64_t open = atomic_fetch_add(&n->open_conns, 1) + 1;
    atomic_fetch_add(&n->st_total, 1);
    c->next = l->conns;
    if (l->conns) l->conns->prev = c;
    l->conns = c;
    if ((uint64_t)open > n->cfg.max_connections) {
        rmq_net_conn_close(c, "max_connections reached");
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (n->cfg.sndbuf > 0) uv_send_buffer_size((uv_handle_t *)&c->tcp, &n->cfg.sndbuf);
    if (n->cfg.rcvbuf > 0) uv_recv_buffer_size((uv_handle_t *)&c->tcp, &n->cfg.rcvbuf);
    c->last_active_ms = rmq_net_now_ms();
    if (n->cfg.on_open) n->cfg.on_open(n->cfg.ud, c);
    if (!c->closed && uv_read_start((uv_stream_t *)&c->tcp, rmq_net_alloc, rmq_net_on_read) == 0) c->reading = true;
}

/* ---------------- loop plumbing ---------------- */

/* Run the callbacks posted to l so far (loop thread). Called from the
 * async handle and, so that completions are not starved, from the read
 * path: libuv reads a busy socket up to 32 times per wakeup before it
 * looks at the async handle, and with a client that always has the next
 * produce ready those sweeps took 20-150 ms in which finished requests
 * waited for their responses (bench/README.md, "step-3 stalls"). */
static void rmq_net_loop_run_posts(rmq_net_loop_t *l) {
    if (!atomic_load_explicit(&l->posted, memory_order_acquire)) return;
    pthread_mutex_lock(&l->mu);
    rmq_net_post_t *p = l->post_head;
    l->post_head = l->post_tail = NULL;
    atomic_store_explicit(&l->posted, false, memory_order_relaxed);
    pthread_mutex_unlock(&l->mu);
    while (p) {
        rmq_net_post_t *nx = p->next;
        p->fn(p->ud);
        free(p);
        p = nx;
    }
}

static void rmq_net_on_async(uv_async_t *a) { rmq_net_loop_run_posts(a->data); }

rmq_err_t rmq_net_loop_post(rmq_net_loop_t *l, void (*fn)(void *ud), void *ud) {
    rmq_net_post_t *p = malloc(sizeof *p);
    if (!p) return RMQ_ERR_NOMEM;
    p->fn = fn;
    p->ud = ud;
    p->next = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->closed_posts) {
        pthread_mutex_unlock(&l->mu);
        free(p);
        return RMQ_ERR_CLOSED;
    }
    if (l->post_tail) l->post_tail->next = p;
    else l->post_head = p;
    l->post_tail = p;
    atomic_store_explicit(&l->posted, true, memory_order_release);
    pthread_mutex_unlock(&l->mu);
    uv_async_send(&l->async);
    return 0;
}

void *rmq_net_loop_uv(rmq_net_loop_t *l) { return &l->loop; }
int rmq_net_loop_index(const rmq_net_loop_t *l) { return l->idx; }
rmq_net_loop_t *rmq_net_loop_at(rmq_net_t *n, int idx) { return &n->loops[idx]; }
int rmq_net_loop_count(const rmq_net_t *n) { return n->nloops; }

/* Has the peer of a connection we do not read closed (or reset) it? A
 * paused connection has no read watcher, so its EOF is not reported; the
 * kernel's TCP state says it (Kafka clients never half-close, and an EOF
 * seen while reading closes the connection too). */
static bool rmq_net_peer_gone(rmq_net_conn_t *c) {
    uv_os_fd_t fd;
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) return false;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return false;
    return ti.tcpi_state != TCP_ESTABLISHED;
}

/* Every 100 ms: close idle connections (nothing being handled and no
 * progress for idle_timeout_ms: a peer that never reads its responses
 * counts as idle), resume those the memory budget paused (room may have
 * been freed by another loop's requests), close paused connections whose
 * peer went away (their queued responses and pending writes are freed). */
static void rmq_net_on_sweep(uv_timer_t *t) {
    rmq_net_loop_t *l = t->data;
    rmq_net_t *n = l->net;
    uint64_t now = rmq_net_now_ms();
    rmq_net_conn_t *c = l->conns;
    while (c) {
        rmq_net_conn_t *nx = c->next;
        if (n->cfg.idle_timeout_ms && c->inflight == c->unsent && now - c->last_active_ms > n->cfg.idle_timeout_ms) {
            rmq_net_conn_close(c, "idle timeout");
        } else if (!c->reading) {
            rmq_net_conn_ref(c);
            rmq_net_maybe_resume(c);
            if (!c->reading && !c->closed && rmq_net_peer_gone(c)) {
                RMQ_DEBUG("net", "msg=\"peer closed a paused connection\" peer=%s conn=%llu inflight=%u", c->peer,
                          (unsigned long long)c->id, c->inflight);
                rmq_net_conn_do_close(c);
            }
            rmq_net_conn_unref(c);
        } else if (c->token && c->big && now - c->token_ms >= RMQ_NET_TOKEN_WINDOW_MS) {
            if (rmq_net_over_budget(n) &&
                c->big_have - c->token_have < (size_t)RMQ_NET_TOKEN_MIN_BPS * RMQ_NET_TOKEN_WINDOW_MS / 1000) {
                char why[200];
                snprintf(why, sizeof why,
                         "frame arriving at under %d KiB/s for %d s while the request memory budget is full "
                         "(%zu of %zu bytes)",
                         RMQ_NET_TOKEN_MIN_BPS / 1024, RMQ_NET_TOKEN_WINDOW_MS / 1000, c->big_have, c->big_len);
                rmq_net_conn_close(c, why);
            } else { /* next window */
                c->token_ms = now;
                c->token_have = c->big_have;
            }
        } else if (!c->big && !c->processing && c->rlen >= 4) {
            /* whole frames left in the staging buffer while over the budget
             * or the in-flight limit, and no new bytes to trigger on_read */
            rmq_net_conn_ref(c);
            rmq_net_conn_process(c);
            rmq_net_conn_unref(c);
        }
        c = nx;
    }
}

static void rmq_net_thread(void *arg) {
    rmq_net_loop_t *l = arg;
    char name[16];
    snprintf(name, sizeof name, "rmq-io-%d", l->idx);
    pthread_setname_np(pthread_self(), name);
    rmq_sched_apply(&l->net->cfg.io_sched, name);
    uv_run(&l->loop, UV_RUN_DEFAULT);
}

static int rmq_net_bind_socket(const char *host, int port, int *out_fd, char *errbuf, size_t errlen) {
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof *a6;
    } else if (strcmp(host, "localhost") == 0) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a4;
    } else {
        snprintf(errbuf, errlen, "listen address '%s' is not a numeric IP address", host);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errbuf, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    /* no SO_REUSEPORT: a second broker on the same port must fail to start */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        snprintf(errbuf, errlen, "bind %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 1024) < 0) {
        snprintf(errbuf, errlen, "listen %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    *out_fd = fd;
    return 0;
}

rmq_err_t rmq_net_start(const rmq_net_config_t *cfg, rmq_net_t **out, char *errbuf, size_t errlen) {
    char host[256];
    int port;
    if (rmq_net_parse_hostport(cfg->listen, host, sizeof host, &port)) {
        snprintf(errbuf, errlen, "invalid listen address '%s' (want host:port)", cfg->listen ? cfg->listen : "");
        return RMQ_ERR_INVALID_ARG;
    }
    rmq_net_t *n = calloc(1, sizeof *n);
    if (!n) return RMQ_ERR_NOMEM;
    n->cfg = *cfg;
    if (n->cfg.io_threads < 1) n->cfg.io_threads = 1;
    if (n->cfg.max_inflight < 1) n->cfg.max_inflight = 1;
    n->nloops = n->cfg.io_threads;
    n->loops = calloc((size_t)n->nloops, sizeof *n->loops);
    if (!n->loops) {
        free(n);
        return RMQ_ERR_NOMEM;
    }
    if (n->nloops > 64) n->nloops = 64;
    int fds[64];
    if (rmq_net_bind_socket(host, port, &fds[0], errbuf, errlen)) {
        free(n->loops);
        free(n);
        return RMQ_ERR_IO;
    }
    /* every loop watches its own dup of the one listening socket; the loop
     * that accepts hands the connection to the least busy loop */
    for (int i = 1; i < n->nloops; i++) fds[i] = dup(fds[0]);
    if (port == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getsockname(fds[0], (struct sockaddr *)&ss, &sl);
        port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    n->port = port;
    for (int i = 0; i < n->nloops; i++) {
        rmq_net_loop_t *l = &n->loops[i];
        l->net = n;
        l->idx = i;
        uv_loop_init(&l->loop);
        pthread_mutex_init(&l->mu, NULL);
        atomic_init(&l->posted, false);
        uv_async_init(&l->loop, &l->async, rmq_net_on_async);
        l->async.data = l;
        uv_timer_init(&l->loop, &l->sweep);
        l->sweep.data = l;
        uv_timer_start(&l->sweep, rmq_net_on_sweep, 100, 100);
        uv_tcp_init(&l->loop, &l->listener);
        l->listener.data = l;
        uv_tcp_open(&l->listener, fds[i]);
        int rc = uv_listen((uv_stream_t *)&l->listener, 1024, rmq_net_on_connection);
        if (rc < 0) {
            snprintf(errbuf, errlen, "listen: %s", uv_strerror(rc));
            /* threads not started yet: tear down synchronously */
            for (int k = 0; k <= i; k++) {
                uv_close((uv_handle_t *)&n->loops[k].listener, NULL);
                uv_close((uv_handle_t *)&n->loops[k].async, NULL);
                uv_close((uv_handle_t *)&n->loops[k].sweep, NULL);
                uv_run(&n->loops[k].loop, UV_RUN_DEFAULT);
                uv_loop_close(&n->loops[k].loop);
            }
            free(n->loops);
            free(n);
            return RMQ_ERR_IO;
        }
    }
    for (int i = 0; i < n->nloops; i++) uv_thread_create(&n->loops[i].thread, rmq_net_thread, &n->loops[i]);
    *out = n;
    return 0;
}

int rmq_net_port(const rmq_net_t *n) { return n->port; }

static void rmq_net_stop_accepting(void *ud) {
    rmq_net_loop_t *l = ud;
    if (!uv_is_closing((uv_handle_t *)&l->listener)) uv_close((uv_handle_t *)&l->listener, NULL);
    for (rmq_net_conn_t *c = l->conns; c; c = c->next)
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
}

static void rmq_net_close_all(void *ud) {
    rmq_net_loop_t *l = ud;
    while (l->conns) rmq_net_conn_do_close(l->conns);
    uv_close((uv_handle_t *)&l->sweep, NULL);
    uv_close((uv_handle_t *)&l->async, NULL);
}

void rmq_net_shutdown(rmq_net_t *n, uint32_t drain_ms) {
    atomic_store(&n->stopping, true);
    for (int i = 0; i < n->nloops; i++) rmq_net_loop_post(&n->loops[i], rmq_net_stop_accepting, &n->loops[i]);
    uint64_t deadline = rmq_net_now_ms() + drain_ms;
    /* requests being handled first (up to drain_ms) */
    while (atomic_load(&n->total_inflight) > atomic_load(&n->total_unsent) && rmq_net_now_ms() < deadline)
        usleep(2000);
    /* then let the last responses reach the socket: at least 20 ms, at most
     * 1 s more (a client that does not read must not hold the stop) */
    uint64_t now = rmq_net_now_ms(), wdeadline = now + 1000 < deadline ? now + 1000 : deadline;
    usleep(20000);
    while (atomic_load(&n->total_unsent) > 0 && rmq_net_now_ms() < wdeadline) usleep(2000);
    for (int i = 0; i < n->nloops; i++) {
        rmq_net_loop_t *l = &n->loops[i];
        pthread_mutex_lock(&l->mu);
        pthread_mutex_unlock(&l->mu);
        rmq_net_loop_post(l, rmq_net_close_all, l);
    }
    for (int i = 0; i < n->nloops; i++) {
        rmq_net_loop_t *l = &n->loops[i];
        uv_thread_join(&l->thread);
        pthread_mutex_lock(&l->mu);
        l->closed_posts = true;
        rmq_net_post_t *p = l->post_head;
        l->post_head = l->post_tail = NULL;
        pthread_mutex_unlock(&l->mu);
        while (p) { /* run what was posted too late so nothing leaks */
            rmq_net_post_t *nx = p->next;
            p->fn(p->ud);
            free(p);
            p = nx;
        }
        uv_run(&l->loop, UV_RUN_NOWAIT);
        uv_loop_close(&l->loop);
    }
}

void rmq_net_free(rmq_net_t *n) {
    if (!n) return;
    for (int i = 0; i < n->nloops; i++) pthread_mutex_destroy(&n->loops[i].mu);
    free(n->loops);
    free(n);
}

void rmq_net_stop(rmq_net_t *n, uint32_t drain_ms) {
    rmq_net_shutdown(n, drain_ms);
    rmq_net_free(n);
}

void rmq_net_get_stats(rmq_net_t *n, rmq_net_stats_t *out) {
    out->connections_open = (uint64_t)atomic_load(&n->open_conns);
    out->connections_total = atomic_load(&n->st_total);
    out->frames_in = atomic_load(&n->st_frames);
    out->bytes_in = atomic_load(&n->st_bytes_in);
    out->bytes_out = atomic_load(&n->st_bytes_out);
    out->frames_rejected = atomic_load(&n->st_rejected);
    out->buffered_bytes = atomic_load(&n->buffered);
    out->budget_pauses = atomic_load(&n->st_pauses);
}
