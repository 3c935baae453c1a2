/* raft_fsm.c - libraft fsm callbacks over the metadata state machine (see
 * raft_fsm.h). Owns nothing but counters: the state and the raft instance
 * are borrowed. */
#include "controller/raft_fsm.h"

#include <string.h>

#include "common/buf.h"
#include "common/log.h"

int rmq_raft_entry_encode(const uint8_t *cmd, size_t len, struct raft_buffer *out) {
    if (len > UINT32_MAX - 16) return RAFT_TOOBIG;
    size_t total = (RMQ_RAFT_ENTRY_HDR + len + 7) & ~(size_t)7;
    uint8_t *p = raft_malloc(total);
    if (!p) return RAFT_NOMEM;
    memset(p, 0, total);
    rmq_wbe32(p, (uint32_t)len);
    memcpy(p + RMQ_RAFT_ENTRY_HDR, cmd, len);
    out->base = p;
    out->len = total;
    return 0;
}

bool rmq_raft_entry_decode(const uint8_t *entry, size_t len, const uint8_t **cmd, size_t *cmd_len) {
    *cmd = entry;
    *cmd_len = len;
    if (len < RMQ_RAFT_ENTRY_HDR) return false;
    uint32_t n = rmq_be32(entry);
    if (rmq_be32(entry + 4) != 0 || (size_t)n > len - RMQ_RAFT_ENTRY_HDR) return false;
    *cmd = entry + RMQ_RAFT_ENTRY_HDR;
    *cmd_len = n;
    return true;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *entry, void **result) {
    rmq_raft_fsm_t *f = fsm->data;
    const uint8_t *cmd;
    size_t cmd_len;
    (void)rmq_raft_entry_decode(entry->base, entry->len, &cmd, &cmd_len);
    *result = NULL; /* results travel through on_applied, never through libraft */
    uint64_t raft_index = (uint64_t)raft_last_applied(f->raft) + 1;
    int64_t idx = (int64_t)raft_index + f->index_offset;
    rmq_meta_result_t res;
    rmq_meta_result_init(&res);
    int64_t before = rmq_meta_state_last_index(f->state);
    rmq_err_t e = rmq_meta_state_apply(f->state, cmd, cmd_len, idx, &res);
    if (idx <= before) {
        /* index not above the state's: a bug in the index bookkeeping, never
         * a property of the command. Say so loudly; raft goes on. */
        RMQ_ERROR("raft", "msg=\"fsm index not increasing\" raft_index=%llu meta_index=%lld state_index=%lld",
                  (unsigned long long)raft_index, (long long)idx, (long long)before);
    } else if (e == RMQ_ERR_NOMEM) {
        RMQ_ERROR("raft", "msg=\"fsm apply out of memory: this replica diverges, restart it\" meta_index=%lld",
                  (long long)idx);
    }
    if (e) f->n_rejected++;
    f->n_applied++;
    if (f->on_applied) f->on_applied(f->on_applied_ud, raft_index, idx, &res, cmd, cmd_len);
    rmq_meta_result_free(&res);
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
    rmq_raft_fsm_t *f = fsm->data;
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (rmq_meta_state_snapshot(f->state, &b)) {
        rmq_buf_free(&b);
        return RAFT_NOMEM;
    }
    struct raft_buffer *arr = raft_malloc(sizeof *arr);
    void *copy = raft_malloc(b.len ? b.len : 1);
    if (!arr || !copy) {
        raft_free(arr);
        raft_free(copy);
        rmq_buf_free(&b);
        return RAFT_NOMEM;
    }
    memcpy(copy, b.data, b.len);
    arr[0].base = copy;
    arr[0].len = b.len;
    *bufs = arr;
    *n_bufs = 1;
    f->n_snapshots++;
    RMQ_DEBUG("raft", "msg=\"snapshot taken\" bytes=%zu meta_index=%lld", b.len,
              (long long)rmq_meta_state_last_index(f->state));
    rmq_buf_free(&b);
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
    rmq_raft_fsm_t *f = fsm->data;
    rmq_err_t e = rmq_meta_state_restore(f->state, buf->base, buf->len);
    if (e) {
        RMQ_ERROR("raft", "msg=\"snapshot restore failed\" err=%s bytes=%zu", rmq_err_name(e), buf->len);
        return RAFT_MALFORMED; /* libraft keeps ownership of buf on failure */
    }
    f->n_restores++;
    RMQ_INFO("raft", "msg=\"snapshot restored\" bytes=%zu meta_index=%lld", buf->len,
             (long long)rmq_meta_state_last_index(f->state));
    raft_free(buf->base); /* ours on success */
    if (f->on_restored) f->on_restored(f->on_restored_ud, rmq_meta_state_last_index(f->state));
    return 0;
}

void rmq_raft_fsm_init(rmq_raft_fsm_t *f, rmq_meta_state_t *state, int64_t index_offset, rmq_raft_applied_fn fn,
                       void *ud) {
    memset(f, 0, sizeof *f);
    f->fsm.version = 1;
    f->fsm.data = f;
    f->fsm.apply = fsm_apply;
    f->fsm.snapshot = fsm_snapshot;
    f->fsm.restore = fsm_restore;
    f->state = state;
    f->index_offset = index_offset;
    f->on_applied = fn;
    f->on_applied_ud = ud;
}
