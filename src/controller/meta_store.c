/* meta_store.c - blocking helpers over the rmq_meta_store_t interface
 * (see meta_store.h): wait for a proposal's completion with a mutex and a
 * condition variable, which works whether the implementation completes
 * synchronously (local log) or later from another thread (Raft). */
#include "controller/meta_store.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    rmq_meta_result_t *res;
} waiter_t;

static void on_done(void *ud, rmq_meta_result_t *res) {
    waiter_t *w = ud;
    pthread_mutex_lock(&w->mu);
    /* move the result (and ownership of its stream ids) to the waiter */
    *w->res = *res;
    res->stream_ids = NULL;
    res->n_stream_ids = 0;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

rmq_err_t rmq_meta_store_propose(rmq_meta_store_t *st, const uint8_t *cmd, size_t len, rmq_meta_result_t *res) {
    rmq_meta_result_init(res);
    waiter_t w = {.done = false, .res = res};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    rmq_err_t e = st->ops->propose(st->impl, cmd, len, on_done, &w, res->msg, sizeof res->msg);
    if (e) {
        res->err = e;
        if (!res->msg[0]) snprintf(res->msg, sizeof res->msg, "metadata proposal failed: %s", rmq_err_name(e));
    } else {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return res->err;
}

rmq_err_t rmq_meta_store_propose_cmd(rmq_meta_store_t *st, const rmq_meta_cmd_t *cmd, rmq_meta_result_t *res) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    rmq_err_t e = rmq_meta_cmd_encode(cmd, &b);
    if (e) {
        rmq_meta_result_init(res);
        res->err = e;
        snprintf(res->msg, sizeof res->msg, "cannot encode metadata command: %s", rmq_err_name(e));
        rmq_buf_free(&b);
        return e;
    }
    e = rmq_meta_store_propose(st, b.data, b.len, res);
    rmq_buf_free(&b);
    return e;
}

rmq_meta_state_t *rmq_meta_store_state(rmq_meta_store_t *st) { return st->ops->state(st->impl); }
