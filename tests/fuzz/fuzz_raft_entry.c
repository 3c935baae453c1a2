/* fuzz_raft_entry.c - libFuzzer target for the Raft log entry envelope
 * (src/controller/raft_fsm.c): committed entries are read back from the
 * raft log on disk and from peers, unwrapped by rmq_raft_entry_decode and
 * applied to the metadata state machine, as fsm_apply does.
 *
 * Input: mode u8, then a sequence of entries, each u16 BE length + bytes.
 * Mode bit 0: "seal" the command inside a valid envelope first (fix its
 * body length and CRC32C, as fuzz_meta_cmd does) so the fuzzer gets past
 * the command checksum into the state machine. Each entry is
 * unwrapped and applied to one fresh state at increasing indexes (the state
 * must always advance to that index, accepted or rejected). A valid
 * envelope must re-wrap (rmq_raft_entry_encode) to the same bytes up to its
 * padding, and the re-wrapped entry must unwrap to the same command.
 * Seeds: tests/fuzz/corpus/raft_entry/ (envelopes around encoded commands). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "controller/meta_cmd.h"
#include "controller/meta_state.h"
#include "controller/raft_fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rewrap(const uint8_t *entry, size_t len, const uint8_t *cmd, size_t cmd_len) {
    struct raft_buffer b;
    if (rmq_raft_entry_encode(cmd, cmd_len, &b) != 0) abort();
    if (b.len % 8 != 0 || b.len < RMQ_RAFT_ENTRY_HDR + cmd_len) abort();
    if (memcmp(b.base, entry, RMQ_RAFT_ENTRY_HDR + cmd_len) != 0) abort();
    (void)len;
    const uint8_t *c2;
    size_t l2;
    if (!rmq_raft_entry_decode(b.base, b.len, &c2, &l2) || l2 != cmd_len || memcmp(c2, cmd, cmd_len) != 0) abort();
    raft_free(b.base);
}

static void seal(uint8_t *p, size_t len) {
    if (len < RMQ_META_CMD_HDR) return;
    rmq_wbe32(p + 8, (uint32_t)(len - RMQ_META_CMD_HDR));
    uint32_t crc = rmq_crc32c(0, p + 4, 8);
    crc = rmq_crc32c(crc, p + RMQ_META_CMD_HDR, len - RMQ_META_CMD_HDR);
    rmq_wbe32(p + 12, crc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) {
        rmq_log_set_level(RMQ_LOG_OFF);
        init = 1;
    }
    rmq_meta_state_opts_t opts = {.max_partitions = 5000}; /* bound memory per input */
    rmq_meta_state_t *st = rmq_meta_state_new(&opts);
    if (!st) return 0;
    if (size < 1) {
        rmq_meta_state_free(st);
        return 0;
    }
    uint8_t mode = data[0];
    data++;
    size--;
    int64_t index = rmq_meta_state_last_index(st) + 1;
    size_t off = 0;
    while (off + 2 <= size && index < 64) {
        size_t n = rmq_be16(data + off);
        off += 2;
        if (n > size - off) n = size - off;
        uint8_t *entry = malloc(n ? n : 1); /* an exact-size copy: reads past it are caught */
        if (!entry) abort();
        memcpy(entry, data + off, n);
        off += n;
        const uint8_t *cmd;
        size_t cmd_len;
        bool wrapped = rmq_raft_entry_decode(entry, n, &cmd, &cmd_len);
        if (cmd < entry || cmd + cmd_len > entry + n) abort();
        if (wrapped && (mode & 1)) seal(entry + RMQ_RAFT_ENTRY_HDR, cmd_len);
        if (wrapped) check_rewrap(entry, n, cmd, cmd_len);
        else if (cmd != entry || cmd_len != n) abort();
        rmq_meta_result_t res;
        rmq_meta_result_init(&res);
        (void)rmq_meta_state_apply(st, cmd, cmd_len, index, &res);
        rmq_meta_result_free(&res);
        free(entry);
        if (rmq_meta_state_last_index(st) != index) abort();
        index++;
    }
    rmq_meta_state_free(st);
    return 0;
}
