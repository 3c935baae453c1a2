/* fuzz_s3_xml.c - libFuzzer target for the bytes the S3 backend reads from
 * the network: the ListObjectsV2, InitiateMultipartUpload, Error and
 * DeleteResult XML parsers of src/storage/objstore_s3.c (one small
 * bounds-checked XML scanner with entity decoding underneath). Every input
 * goes through all four parsers; results are checked for internal
 * consistency (keys NUL-free and within the key limit, a truncated listing
 * always has a token, messages NUL-terminated within their buffers).
 * Seed corpus: tests/fuzz/corpus/s3_xml/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/objstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rmq_obj_list_t l;
    rmq_obj_list_init(&l);
    if (rmq_s3_parse_list(data, size, &l) == 0) {
        if (l.truncated && !l.next_token) abort();
        if (!l.truncated && l.next_token) abort();
        for (size_t i = 0; i < l.n; i++) {
            size_t kl = strlen(l.entries[i].key);
            if (kl == 0 || kl > RMQ_OBJ_KEY_MAX) abort();
        }
    }
    rmq_obj_list_free(&l);

    char *id = NULL;
    if (rmq_s3_parse_upload_id(data, size, &id) == 0) {
        if (!id || !*id) abort();
    } else if (id) {
        abort();
    }
    free(id);

    char code[16], msg[32];
    rmq_s3_parse_error(data, size, code, sizeof code, msg, sizeof msg);
    if (!memchr(code, '\0', sizeof code) || !memchr(msg, '\0', sizeof msg)) abort();

    size_t nerr = 0;
    char first[24];
    if (rmq_s3_parse_delete_result(data, size, &nerr, first, sizeof first) == 0 && nerr > size) abort();
    if (!memchr(first, '\0', sizeof first)) abort();
    return 0;
}
