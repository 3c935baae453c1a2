/* fuzz_meta_cmd.c - libFuzzer target for the metadata command decoder, the
 * state machine and the snapshot codec.
 *
 * Input: one mode byte, then chunks [u16 BE length][bytes].
 *   mode & 1: "seal" each chunk before use (fix its body length and CRC32C
 *             when it is at least a header long), so the fuzzer gets past
 *             the checksum and explores body decoding and the state machine.
 *   mode & 2: feed the whole rest of the input to rmq_meta_state_restore
 *             as a snapshot first.
 * Each chunk is decoded (a successful decode must re-encode to the same
 * bytes) and applied to one fresh state at increasing indexes. At the end
 * the state is snapshotted, restored into a second state, and both must be
 * equal and snapshot to identical bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "controller/meta_cmd.h"
#include "controller/meta_state.h"

static void seal(uint8_t *p, size_t len) {
    if (len < RMQ_META_CMD_HDR) return;
    rmq_wbe32(p + 8, (uint32_t)(len - RMQ_META_CMD_HDR));
    uint32_t crc = rmq_crc32c(0, p + 4, 8);
    crc = rmq_crc32c(crc, p + RMQ_META_CMD_HDR, len - RMQ_META_CMD_HDR);
    rmq_wbe32(p + 12, crc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    rmq_meta_state_opts_t opts = {.max_partitions = 5000}; /* bound memory per input */
    rmq_meta_state_t *s = rmq_meta_state_new(&opts);
    if (!s) return 0;
    if (mode & 2) (void)rmq_meta_state_restore(s, data, size);

    int64_t index = rmq_meta_state_last_index(s) + 1;
    size_t off = 0;
    uint8_t *chunk = malloc(65536 + 1);
    if (!chunk) abort();
    while (off + 2 <= size) {
        size_t n = rmq_be16(data + off);
        off += 2;
        if (n > size - off) n = size - off;
        memcpy(chunk, data + off, n);
        off += n;
        if (mode & 1) seal(chunk, n);

        rmq_arena_t arena;
        rmq_arena_init(&arena, 1 << 20);
        rmq_meta_cmd_t cmd;
        size_t eoff = 0;
        rmq_err_t e = rmq_meta_cmd_decode(chunk, n, &arena, &cmd, &eoff);
        if (e == 0) {
            rmq_buf_t b;
            rmq_buf_init(&b);
            if (rmq_meta_cmd_encode(&cmd, &b) != 0) abort();
            if (b.len != n || memcmp(b.data, chunk, n) != 0) abort(); /* canonical round trip */
            rmq_buf_free(&b);
        } else if (eoff > n) {
            abort();
        }
        rmq_arena_free(&arena);

        rmq_meta_result_t r;
        rmq_err_t ae = rmq_meta_state_apply(s, chunk, n, index, &r);
        if (e != 0 && ae != e) abort(); /* decode failures surface as such */
        if (rmq_meta_state_last_index(s) != index) abort();
        rmq_meta_result_free(&r);
        index++;
    }
    free(chunk);

    rmq_buf_t snap;
    rmq_buf_init(&snap);
    if (rmq_meta_state_snapshot(s, &snap) != 0) abort();
    rmq_meta_state_t *s2 = rmq_meta_state_new(&opts);
    if (!s2) abort();
    if (rmq_meta_state_restore(s2, snap.data, snap.len) != 0) abort();
    if (!rmq_meta_state_equal(s, s2)) abort();
    rmq_buf_t snap2;
    rmq_buf_init(&snap2);
    if (rmq_meta_state_snapshot(s2, &snap2) != 0) abort();
    if (snap.len != snap2.len || memcmp(snap.data, snap2.data, snap.len) != 0) abort();
    rmq_buf_free(&snap);
    rmq_buf_free(&snap2);
    rmq_meta_state_free(s2);
    rmq_meta_state_free(s);
    return 0;
}
