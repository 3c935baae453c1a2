/* net.h - TCP server for length-prefixed frames (the Kafka framing) on a
 * small pool of libuv I/O threads.
 *
 * Each I/O thread runs its own uv_loop and accepts on its own dup of the
 * one listening socket; the accepting loop hands the socket to the loop
 * serving the fewest connections (the kernel tends to wake the same loop
 * every time), and a connection lives on one loop for its whole life (no
 * locking on the per-connection path). No SO_REUSEPORT: a second process on the same port fails to bind.
 *
 * Framing: a 4-byte big-endian size followed by that many bytes. A size that
 * is negative, zero or above max_frame_bytes closes the connection with a
 * log line naming the peer and the problem. A complete frame is handed to
 * the frame callback together with a response slot: Kafka requires responses
 * in request order on a connection, so slots are queued in arrival order and
 * written out from the head as they complete, whatever order handlers finish
 * in. A slot is outstanding from its frame's arrival until its response has
 * been written to the socket: a connection with max_inflight outstanding
 * stops reading until some are written (back-pressure, also against a
 * client that pipelines and never reads). Every connection stops reading
 * while the request bytes held by unfinished requests and by frames still
 * arriving exceed max_buffered_bytes (the memory budget), except one
 * connection at a time whose frame is partly in, so that partial frames
 * cannot hold the budget forever; paused connections are resumed within
 * 100 ms of room appearing, and closed within 100 ms if their peer closes.
 *
 * Ownership: the frame buffer passed to the callback is heap memory owned by
 * the callee (free() it). Response bytes given to rmq_net_slot_complete are
 * taken over by net (freed with free() once written); external parts given
 * to rmq_net_slot_complete_ext are borrowed until their release callback.
 *
 * net never includes broker code: it only knows frames and slots. */
#ifndef RMQ_NET_NET_H
#define RMQ_NET_NET_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/sched.h"

typedef struct rmq_net rmq_net_t;
typedef struct rmq_net_conn rmq_net_conn_t;
typedef struct rmq_net_slot rmq_net_slot_t;
typedef struct rmq_net_loop rmq_net_loop_t;

/* Called on the connection's I/O thread for every complete frame.
 * frame: owned by the callee. The slot must be completed exactly once
 * (possibly later, from the same I/O thread; use rmq_net_loop_post from
 * other threads). */
typedef void (*rmq_net_frame_cb)(void *ud, rmq_net_conn_t *conn, rmq_net_slot_t *slot, uint8_t *frame,
                                 size_t len);
/* Called on the I/O thread when a connection is accepted / closed. Optional. */
typedef void (*rmq_net_conn_cb)(void *ud, rmq_net_conn_t *conn);

typedef struct rmq_net_config {
    const char *listen;          /* "host:port" */
    int io_threads;              /* >= 1 */
    uint32_t max_frame_bytes;    /* frames above this close the connection */
    uint32_t max_inflight;       /* per connection, >= 1 */
    uint32_t max_connections;    /* across all threads; extra accepts are closed */
    uint32_t idle_timeout_ms;    /* 0 = never */
    uint64_t max_buffered_bytes; /* request bytes held by unfinished requests and
                                    received bytes of frames still arriving, all
                                    connections together; above it no connection
                                    reads more until some finish (0 = unlimited) */
    int sndbuf, rcvbuf;          /* 0 = OS default */
    rmq_sched_hint_t io_sched;   /* each I/O thread's CPU scheduling hint (zero = none) */
    rmq_net_frame_cb on_frame;
    rmq_net_conn_cb on_open, on_close;
    void *ud;
} rmq_net_config_t;

/* Bind and listen on every I/O thread's socket and start the threads.
 * Returns RMQ_ERR_IO with errbuf filled if the address cannot be bound. */
rmq_err_t rmq_net_start(const rmq_net_config_t *cfg, rmq_net_t **out, char *errbuf, size_t errlen);
/* The bound port (useful with port 0). */
int rmq_net_port(const rmq_net_t *n);
/* Stop accepting, let every in-flight slot complete (up to drain_ms) and its
 * response be written (up to 1 s more, within drain_ms), close all
 * connections, join the threads, free. */
void rmq_net_stop(rmq_net_t *n, uint32_t drain_ms);
/* rmq_net_stop in two halves, for an owner whose other threads may still
 * post to a loop after the stop (a tier read completing): shutdown stops
 * and joins the loops but keeps them allocated, so a late
 * rmq_net_loop_post fails with RMQ_ERR_CLOSED (the poster abandons its
 * work) instead of touching freed memory; rmq_net_free(n) releases them
 * once nothing can post any more. */
void rmq_net_shutdown(rmq_net_t *n, uint32_t drain_ms);
void rmq_net_free(rmq_net_t *n);

/* Complete a slot with a response (data taken over; NULL/0 = no response,
 * e.g. acks=0 produce). I/O thread of the connection only. Safe after the
 * connection closed (the data is just freed). */
void rmq_net_slot_complete(rmq_net_slot_t *slot, uint8_t *data, size_t len);
/* rmq_net_slot_complete with n parts kept out of the buffer (zero-copy,
 * in order of `at`): ext is a malloc'd array taken over by net (freed with
 * free()), the bytes it points at are borrowed. release(ud), if not NULL,
 * runs exactly once on this I/O thread when net no longer needs them:
 * after the write finished or failed, or when the response is dropped
 * (connection closed). */
void rmq_net_slot_complete_ext(rmq_net_slot_t *slot, uint8_t *data, size_t len, rmq_buf_ext_t *ext, size_t n,
                               void (*release)(void *ud), void *ud);
/* The connection a slot belongs to (may be closed). */
rmq_net_conn_t *rmq_net_slot_conn(rmq_net_slot_t *slot);

/* "127.0.0.1:53412" - valid for the connection's life. */
const char *rmq_net_conn_peer(const rmq_net_conn_t *c);
uint64_t rmq_net_conn_id(const rmq_net_conn_t *c);
rmq_net_loop_t *rmq_net_conn_loop(rmq_net_conn_t *c);
int rmq_net_conn_closed(const rmq_net_conn_t *c);
/* Count c as busy (it carries data, not only metadata) when new connections
 * are placed: a new connection goes to the I/O thread with the fewest busy
 * connections, then the fewest connections. Idempotent; until c closes.
 * Call on c's own I/O thread. */
void rmq_net_conn_mark_busy(rmq_net_conn_t *c);
/* Close after logging the reason at warn level (names the peer). */
void rmq_net_conn_close(rmq_net_conn_t *c, const char *reason);
/* Per-connection user pointer (the broker keeps its session state here). */
void rmq_net_conn_set_ud(rmq_net_conn_t *c, void *ud);
void *rmq_net_conn_get_ud(const rmq_net_conn_t *c);
/* Keep a connection object alive past close (for async completions). */
void rmq_net_conn_ref(rmq_net_conn_t *c);
void rmq_net_conn_unref(rmq_net_conn_t *c);

/* Run fn(ud) on the given loop's thread, soon. Thread-safe; never fails
 * except on OOM (returns RMQ_ERR_NOMEM) or after stop (RMQ_ERR_CLOSED). */
rmq_err_t rmq_net_loop_post(rmq_net_loop_t *l, void (*fn)(void *ud), void *ud);
/* The uv_loop_t of an I/O thread (as void* so net.h needs no uv.h). */
void *rmq_net_loop_uv(rmq_net_loop_t *l);
int rmq_net_loop_index(const rmq_net_loop_t *l);
rmq_net_loop_t *rmq_net_loop_at(rmq_net_t *n, int idx);
int rmq_net_loop_count(const rmq_net_t *n);

typedef struct rmq_net_stats {
    uint64_t connections_open;
    uint64_t connections_total;
    uint64_t frames_in;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t frames_rejected;
    uint64_t buffered_bytes; /* request bytes held by unfinished requests and partial frames now */
    uint64_t budget_pauses;  /* times a connection stopped reading for the memory budget */
} rmq_net_stats_t;
void rmq_net_get_stats(rmq_net_t *n, rmq_net_stats_t *out);

/* Parse "host:port" / "[v6]:port" into host (NUL-terminated) and port. */
rmq_err_t rmq_net_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
