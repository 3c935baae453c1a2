/* err.c - string table and classification for rmq_err_t (see err.def). */
#include "common/err.h"

#include <stddef.h>

typedef struct {
    int code;
    const char *name;
    char cls;
} rmq_err_entry_t;

static const rmq_err_entry_t rmq_err_table[] = {
#define X(name, code, cls) {(code), #name, #cls[0]},
#include "common/err.def"
#undef X
};

static const rmq_err_entry_t *rmq_err_lookup(rmq_err_t err) {
    for (size_t i = 0; i < sizeof(rmq_err_table) / sizeof(rmq_err_table[0]); i++)
        if (rmq_err_table[i].code == err) return &rmq_err_table[i];
    return NULL;
}

const char *rmq_err_name(rmq_err_t err) {
    const rmq_err_entry_t *e = rmq_err_lookup(err);
    return e ? e->name : "UNKNOWN_CODE";
}

rmq_errclass_t rmq_err_class(rmq_err_t err) {
    const rmq_err_entry_t *e = rmq_err_lookup(err);
    if (!e) return RMQ_ERRCLASS_FATAL;
    switch (e->cls) {
    case 'R': return RMQ_ERRCLASS_RETRIABLE;
    case 'M': return RMQ_ERRCLASS_REFRESH;
    default: return RMQ_ERRCLASS_FATAL;
    }
}

bool rmq_err_retriable(rmq_err_t err) { return rmq_err_class(err) != RMQ_ERRCLASS_FATAL; }

bool rmq_err_is_internal(rmq_err_t err) { return err <= -1000; }

int16_t rmq_err_to_wire(rmq_err_t err) {
    if (!rmq_err_is_internal(err)) return (int16_t)err;
    switch (err) {
    case RMQ_ERR_TRUNCATED:
    case RMQ_ERR_BAD_VARINT:
    case RMQ_ERR_BAD_LENGTH:
    case RMQ_ERR_BAD_CRC:
    case RMQ_ERR_BAD_MAGIC:
    case RMQ_ERR_COMPRESSION:
    case RMQ_ERR_CORRUPT: return RMQ_CORRUPT_MESSAGE;
    case RMQ_ERR_TOO_LARGE: return RMQ_MESSAGE_TOO_LARGE;
    case RMQ_ERR_UNSUPPORTED: return RMQ_UNSUPPORTED_VERSION;
    case RMQ_ERR_INVALID_ARG:
    case RMQ_ERR_PARSE: return RMQ_INVALID_REQUEST;
    case RMQ_ERR_NOT_FOUND: return RMQ_UNKNOWN_TOPIC_OR_PARTITION;
    case RMQ_ERR_EXISTS: return RMQ_TOPIC_ALREADY_EXISTS;
    case RMQ_ERR_CONFIG: return RMQ_INVALID_CONFIG;
    case RMQ_ERR_WAL_FULL:
    case RMQ_ERR_NOSPACE:
    case RMQ_ERR_BUSY:
    case RMQ_ERR_AGAIN:
    case RMQ_ERR_TIMEOUT:
    case RMQ_ERR_NOMEM: return RMQ_REQUEST_TIMED_OUT; /* retriable back-pressure */
    case RMQ_ERR_IO:
    case RMQ_ERR_READ_ONLY:
    case RMQ_ERR_SHORT_WRITE: return RMQ_KAFKA_STORAGE_ERROR;
    default: return RMQ_UNKNOWN_SERVER_ERROR;
    }
}
