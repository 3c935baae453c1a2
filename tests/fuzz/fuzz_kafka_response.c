/* fuzz_kafka_response.c - libFuzzer target for Kafka response decoding as
 * the admin CLI / serve-api's Kafka client does it (src/admin/kclient.c:
 * rmq_kafka_decode_response_header, then rmq_kafka_decode with the API's
 * response descriptor).
 *
 * Input: api key i16 BE | version i16 BE | response frame (header + body,
 * no size prefix). Keys the codec does not know and versions outside its
 * range are skipped (the client never asks for them). A response that
 * decodes is re-encoded (rmq_kafka_encode_response), the encoding decoded
 * again and re-encoded: both encodings must be identical (the first may
 * differ from the input: unknown tagged fields dropped, varints
 * normalised). Seeds: tests/fuzz/corpus/kafka_response/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "protocol/kafka_api.h"
#include "protocol/kafka_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode frame[0..n) (borrowed) as kclient does; the body is arena-owned. */
static rmq_err_t decode(const rmq_kafka_api_info_t *info, int16_t key, int16_t ver, const uint8_t *frame, size_t n,
                        rmq_arena_t *a, int32_t *corr, void **body) {
    rmq_cur_t cur;
    rmq_cur_init(&cur, frame, n);
    rmq_err_t rc = rmq_kafka_decode_response_header(&cur, rmq_kafka_response_header_version(key, ver), corr);
    if (rc) return rc;
    *body = rmq_arena_alloc(a, info->response->size);
    if (!*body) return RMQ_ERR_NOMEM;
    rmq_kafka_decode_error_t de;
    return rmq_kafka_decode_ex(info->response, ver, &cur, a, *body, &de);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    int16_t key = (int16_t)rmq_be16(data), ver = (int16_t)rmq_be16(data + 2);
    const rmq_kafka_api_info_t *info = rmq_kafka_api_info(key);
    if (!info || !info->response || ver < info->min_version || ver > info->max_version) return 0;
    rmq_arena_t a;
    rmq_arena_init(&a, 4u << 20);
    int32_t corr = 0;
    void *body = NULL;
    rmq_err_t rc = decode(info, key, ver, data + 4, size - 4, &a, &corr, &body);
    if (rc == RMQ_NONE) {
        rmq_buf_t b1, b2;
        rmq_buf_init(&b1);
        rmq_buf_init(&b2);
        if (rmq_kafka_encode_response(key, ver, corr, body, &b1) != RMQ_NONE) abort(); /* decoded must encode */
        if (b1.len < 4 || rmq_be32(b1.data) != b1.len - 4) abort();
        int32_t corr2 = 0;
        void *body2 = NULL;
        rc = decode(info, key, ver, b1.data + 4, b1.len - 4, &a, &corr2, &body2);
        if (rc != RMQ_NONE && rc != RMQ_ERR_NOMEM) abort();
        if (rc == RMQ_NONE) {
            if (corr2 != corr) abort();
            if (rmq_kafka_encode_response(key, ver, corr2, body2, &b2) != RMQ_NONE) abort();
            if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) abort();
        }
        rmq_buf_free(&b1);
        rmq_buf_free(&b2);
    } else if (rc != RMQ_ERR_TRUNCATED && rc != RMQ_ERR_BAD_LENGTH && rc != RMQ_ERR_BAD_VARINT &&
               rc != RMQ_ERR_NOMEM && rc != RMQ_UNSUPPORTED_VERSION) {
        abort(); /* an error code the decoder is not documented to return */
    }
    rmq_arena_free(&a);
    return 0;
}
