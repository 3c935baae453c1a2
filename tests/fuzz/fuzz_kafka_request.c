/* fuzz_kafka_request.c - libFuzzer target for the Kafka request decoder.
 *
 * Feeds arbitrary bytes (a request frame without its 4-byte size prefix) to
 * rmq_kafka_decode_request under a capped arena. On success the request is
 * re-encoded, the re-encoding decoded again and re-encoded once more: the two
 * encodings must be identical (the codec is canonical after one pass; the
 * first encoding may differ from the input, e.g. unknown tagged fields are
 * dropped and non-minimal varints normalised). Seed corpus:
 * tests/fuzz/corpus/kafka_request/ (the golden client frames). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "protocol/kafka_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rmq_arena_t a;
    rmq_arena_init(&a, 4u << 20);
    rmq_kafka_request_header_t h;
    void *body;
    const rmq_kafka_msg_desc_t *d;
    rmq_kafka_decode_error_t e;
    rmq_err_t rc = rmq_kafka_decode_request(data, size, &a, &h, &body, &d, &e);
    if (rc == RMQ_NONE) {
        rmq_buf_t b1, b2;
        rmq_buf_init(&b1);
        rmq_buf_init(&b2);
        /* whatever decodes must encode */
        if (rmq_kafka_encode_request(&h, body, &b1) != RMQ_NONE) abort();
        {
            rmq_kafka_request_header_t h2;
            void *body2;
            const rmq_kafka_msg_desc_t *d2;
            rc = rmq_kafka_decode_request(b1.data + 4, b1.len - 4, &a, &h2, &body2, &d2, &e);
            if (rc != RMQ_NONE && rc != RMQ_ERR_NOMEM) abort();
            if (rc == RMQ_NONE) {
                if (d2 != d || h2.correlation_id != h.correlation_id) abort();
                if (rmq_kafka_encode_request(&h2, body2, &b2) != RMQ_NONE) abort();
                if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) abort();
            }
        }
        rmq_buf_free(&b1);
        rmq_buf_free(&b2);
    } else if (rc != RMQ_ERR_TRUNCATED && rc != RMQ_ERR_BAD_LENGTH && rc != RMQ_ERR_BAD_VARINT &&
               rc != RMQ_ERR_NOMEM && rc != RMQ_ERR_UNSUPPORTED && rc != RMQ_UNSUPPORTED_VERSION) {
        abort(); /* an error code the decoder is not documented to return */
    }
    rmq_arena_free(&a);
    return 0;
}
