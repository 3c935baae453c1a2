/* fuzz_record_batch.c - libFuzzer target for src/protocol/record_batch.c and
 * compression.c: rmq_rb_validate with a 4 MiB decompression bound (strict,
 * then with the compacted/partial/no-CRC flags so the record walk is reached
 * even when the fuzzer breaks the CRC), then the batch and record iterators
 * over every batch, touching every byte of every key, value and header view
 * so ASan checks the views stay inside their buffers.
 * Seed corpus: tests/fuzz/corpus/record_batch/ (small valid batches of every
 * codec, from the builder and from librdkafka / kafka-python). */
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "protocol/record_batch.h"

#define BOUND ((size_t)4 << 20)

static volatile uint8_t sink;

static void touch(rmq_rb_bytes_t v) {
    if (v.len < 0) {
        if (v.ptr) __builtin_trap();
        return;
    }
    uint8_t acc = 0;
    for (int32_t i = 0; i < v.len; i++) acc ^= v.ptr[i];
    sink ^= acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rmq_buf_t scratch;
    rmq_buf_init(&scratch);
    rmq_rb_summary_t s;
    rmq_rb_limits_t lim = {.max_decompressed_bytes = BOUND, .flags = 0, .scratch = &scratch};
    rmq_err_t e = rmq_rb_validate(data, size, &lim, &s);
    if (e == 0 && (s.batches <= 0 || s.records < 0 || s.valid_bytes > size || s.decompressed_bytes > BOUND))
        __builtin_trap();

    const uint32_t flagsets[2] = {0, RMQ_RB_F_NO_CRC | RMQ_RB_F_COMPACTED | RMQ_RB_F_ALLOW_PARTIAL};
    for (int f = 0; f < 2; f++) {
        lim.flags = flagsets[f];
        (void)rmq_rb_validate(data, size, &lim, &s);
        rmq_rb_batches_t bi;
        rmq_rb_batch_t b;
        rmq_rb_batches_init(&bi, data, size, flagsets[f]);
        size_t budget = BOUND;
        while (rmq_rb_batches_next(&bi, &b)) {
            if (b.offset + b.size > size || b.size < RMQ_RB_HEADER_SIZE) __builtin_trap();
            rmq_rb_iter_t it;
            if (rmq_rb_iter_init(&it, &b, &scratch, budget, flagsets[f])) continue;
            if (scratch.len > budget) __builtin_trap();
            rmq_rb_record_t r;
            int32_t n = 0;
            while (rmq_rb_iter_next(&it, &r)) {
                touch(r.key);
                touch(r.value);
                rmq_rb_hiter_t hi;
                rmq_rb_bytes_t hk, hv;
                int32_t h = 0;
                rmq_rb_hiter_init(&hi, &r);
                while (rmq_rb_hiter_next(&hi, &hk, &hv)) {
                    if (hk.len < 0) __builtin_trap();
                    touch(hk);
                    touch(hv);
                    h++;
                }
                if (h != r.header_count) __builtin_trap(); /* validated by iter_next */
                n++;
            }
            if (n > b.h.record_count) __builtin_trap();
        }
    }
    rmq_buf_free(&scratch);
    return 0;
}
