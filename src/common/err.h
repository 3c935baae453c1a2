/* err.h - the one error-code space of RustMQ.
 *
 * rmq_err_t values >= -1 are Kafka wire error codes (RMQ_NONE == 0, Kafka's
 * UNKNOWN_SERVER_ERROR == -1); values <= -1000 are internal (RMQ_ERR_*).
 * Every code has one name, one message, and one class (retriable,
 * retriable-after-metadata-refresh, fatal) shared by the broker and the SDK.
 * The table lives in err.def. */
#ifndef RMQ_COMMON_ERR_H
#define RMQ_COMMON_ERR_H

#include <stdbool.h>
#include <stdint.h>

typedef int rmq_err_t;

enum {
#define X(name, code, cls) RMQ_##name = (code),
#include "common/err.def"
#undef X
};

typedef enum { RMQ_ERRCLASS_FATAL = 0, RMQ_ERRCLASS_RETRIABLE = 1, RMQ_ERRCLASS_REFRESH = 2 } rmq_errclass_t;

/* Symbolic name, e.g. "UNKNOWN_TOPIC_OR_PARTITION"; "UNKNOWN(n)" style static
 * string "UNKNOWN_CODE" for codes not in the table. Never NULL, static storage. */
const char *rmq_err_name(rmq_err_t err);
rmq_errclass_t rmq_err_class(rmq_err_t err);
bool rmq_err_retriable(rmq_err_t err); /* true for RETRIABLE and REFRESH */
bool rmq_err_is_internal(rmq_err_t err);
/* Map any code to the Kafka code to put on the wire. Internal codes map to
 * the closest Kafka meaning; back-pressure (ERR_WAL_FULL, ERR_NOSPACE, ...)
 * maps to the retriable REQUEST_TIMED_OUT so producers retry, I/O failures to
 * KAFKA_STORAGE_ERROR, decode failures to CORRUPT_MESSAGE. */
int16_t rmq_err_to_wire(rmq_err_t err);

#endif
