/* raft_fsm.h - the glue between libraft's struct raft_fsm and the metadata
 * state machine (meta_state.h).
 *
 * The fsm decodes nothing itself: apply() hands the committed entry's bytes
 * to rmq_meta_state_apply() with the entry's log index, snapshot() returns
 * rmq_meta_state_snapshot() bytes (raft_malloc'd, released by libraft),
 * restore() calls rmq_meta_state_restore() and releases the buffer (libraft
 * hands ownership of the snapshot data to the fsm on success).
 *
 * The log index of an entry is not passed to fsm->apply by libraft 0.15; it
 * is raft_last_applied(raft) + 1 while apply runs (libraft bumps
 * last_applied after each entry, barriers and configuration entries
 * included), so the fsm needs the struct raft it is attached to (set
 * f->raft after raft_init, or take raft_fixture_get() in tests). The meta
 * index is the raft index plus index_offset (non-zero only for an embedded
 * store seeded from a migrated local log, see raft_store.h).
 *
 * Entries: libraft's uv log needs entry sizes that are multiples of 8 (a
 * shorter entry corrupts its closed segment on restart), so every command
 * travels in an envelope: length u32 BE | reserved u32 (0) | command |
 * zero padding to a multiple of 8. rmq_raft_entry_encode builds it; apply
 * unwraps it with rmq_raft_entry_decode (an entry without a valid envelope
 * goes to the state machine as is, which rejects it deterministically).
 *
 * Used by the libuv-backed store (raft_store.c) and, unchanged, by the
 * deterministic fixture tests (tests/unit/test_raft_fixture.c). All calls
 * happen on the raft loop thread. */
#ifndef RMQ_CONTROLLER_RAFT_FSM_H
#define RMQ_CONTROLLER_RAFT_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/meta_state.h"

/* Called on the raft thread after every applied command entry. res is
 * borrowed for the call (the observer may take res->stream_ids by setting
 * it to NULL); cmd[0..len) is the entry's bytes (borrowed). meta_index is
 * the index the state machine saw. */
typedef void (*rmq_raft_applied_fn)(void *ud, uint64_t raft_index, int64_t meta_index, rmq_meta_result_t *res,
                                    const uint8_t *cmd, size_t len);

/* Called on the raft thread after a snapshot replaced the whole state
 * (restore at start or InstallSnapshot); meta_index is the state's index. */
typedef void (*rmq_raft_restored_fn)(void *ud, int64_t meta_index);

typedef struct rmq_raft_fsm {
    struct raft_fsm fsm;     /* give &f->fsm to raft_init; fsm.data == f */
    struct raft *raft;       /* the instance applying to us (borrowed) */
    rmq_meta_state_t *state; /* borrowed */
    int64_t index_offset;
    rmq_raft_applied_fn on_applied; /* optional */
    void *on_applied_ud;
    rmq_raft_restored_fn on_restored; /* optional, set after init */
    void *on_restored_ud;
    uint64_t n_applied, n_rejected, n_snapshots, n_restores;
} rmq_raft_fsm_t;

#define RMQ_RAFT_ENTRY_HDR 8

/* Wrap cmd[0..len) (borrowed) into an entry buffer: out->base is
 * raft_malloc'd and owned by the caller until raft_apply accepts it.
 * Returns 0 or RAFT_NOMEM / RAFT_TOOBIG (len >= 2^32). */
int rmq_raft_entry_encode(const uint8_t *cmd, size_t len, struct raft_buffer *out);

/* Unwrap an entry (borrowed): if entry[0..len) holds a valid envelope
 * (len >= 8, reserved field 0, command length <= len - 8), *cmd / *cmd_len
 * are the command inside it and true is returned; otherwise they are the
 * whole entry (the state machine rejects it deterministically) and false.
 * *cmd points into entry. */
bool rmq_raft_entry_decode(const uint8_t *entry, size_t len, const uint8_t **cmd, size_t *cmd_len);

/* Fill f (state borrowed, must outlive f). on_applied may be NULL. */
void rmq_raft_fsm_init(rmq_raft_fsm_t *f, rmq_meta_state_t *state, int64_t index_offset, rmq_raft_applied_fn fn,
                       void *ud);

#endif
