/* toml.h - our own TOML v1.0.0 parser (there is no C TOML library in Debian).
 *
 * rmq_toml_parse() turns a whole document into a read-only tree. Every node
 * (tables, arrays, values) records the line and column (1-based, columns in
 * Unicode code points) where it starts, so configuration errors can point at
 * the offending line. The whole tree lives in one arena owned by the
 * document: rmq_toml_free() releases everything, and every pointer handed out
 * by the accessors below (nodes, keys, strings) is borrowed from the document
 * and stays valid until then.
 *
 * Conformance: full TOML 1.0.0 - bare/quoted/dotted keys, [tables],
 * [[arrays of tables]], inline tables, basic and literal strings (single and
 * multi-line, all escapes, line-ending backslash; \u and \U must be Unicode
 * scalar values and are stored as UTF-8), integers (decimal with underscores,
 * 0x/0o/0b, int64 overflow is an error), floats (fraction, exponent,
 * inf/nan), booleans, offset date-times, local date-times, local dates and
 * local times (validated, including leap years), heterogeneous arrays,
 * comments. Duplicate keys, table redefinition and the 1.0 rules on dotted
 * keys vs. headers are enforced. Input must be UTF-8; control characters
 * other than tab are rejected outside of escapes. Nesting of arrays and inline
 * tables is limited to RMQ_TOML_MAX_DEPTH so hostile input cannot exhaust the
 * stack. Tested against the toml-test suite (tests/data/toml). */
#ifndef RMQ_COMMON_TOML_H
#define RMQ_COMMON_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define RMQ_TOML_MAX_DEPTH 64

typedef enum {
    RMQ_TOML_TABLE = 1,
    RMQ_TOML_ARRAY,
    RMQ_TOML_STRING,
    RMQ_TOML_INT,
    RMQ_TOML_FLOAT,
    RMQ_TOML_BOOL,
    RMQ_TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
    RMQ_TOML_DATETIME_LOCAL, /* local date-time:  1979-05-27T07:32:00 */
    RMQ_TOML_DATE_LOCAL,     /* local date:       1979-05-27 */
    RMQ_TOML_TIME_LOCAL,     /* local time:       07:32:00.5 */
} rmq_toml_type_t;

/* A parsed date/time. Fields that the type does not carry are zero
 * (e.g. hour..nanosecond for a local date; year..day for a local time). */
typedef struct rmq_toml_datetime {
    int year, month, day;
    int hour, minute, second;
    int nanosecond;      /* fraction, truncated to 9 digits */
    int frac_digits;     /* digits written in the document (0 = none), capped at 9 */
    int offset_minutes;  /* offset date-time only; Z == 0 */
} rmq_toml_datetime_t;

typedef struct rmq_toml rmq_toml_t;           /* a document; owns all nodes */
typedef struct rmq_toml_node rmq_toml_node_t; /* a node, borrowed from its document */

/* Parse text[0..len) (need not be NUL-terminated; borrowed, not kept).
 * On success *out is a new document (caller frees with rmq_toml_free) and
 * RMQ_NONE is returned. On failure *out is NULL, RMQ_ERR_PARSE (or
 * RMQ_ERR_NOMEM / RMQ_ERR_INVALID_ARG) is returned and errbuf (if non-NULL)
 * receives "line L, column C: <reason>". */
rmq_err_t rmq_toml_parse(const char *text, size_t len, rmq_toml_t **out, char *errbuf, size_t errlen);
void rmq_toml_free(rmq_toml_t *doc);

/* The root table; never NULL for a parsed document. */
const rmq_toml_node_t *rmq_toml_root(const rmq_toml_t *doc);

rmq_toml_type_t rmq_toml_type(const rmq_toml_node_t *n);
/* "table", "array", "string", "integer", "float", "boolean", "offset date-time",
 * "local date-time", "local date", "local time" (static storage). */
const char *rmq_toml_type_name(rmq_toml_type_t t);
uint32_t rmq_toml_line(const rmq_toml_node_t *n);
uint32_t rmq_toml_col(const rmq_toml_node_t *n);

/* Tables. Keys are returned borrowed, NUL-terminated, with their length (a
 * quoted key may contain "\u0000"). Iteration order is document order. All
 * return 0/NULL when n is not a table or the key/index does not exist. */
size_t rmq_toml_table_count(const rmq_toml_node_t *n);
const rmq_toml_node_t *rmq_toml_table_get(const rmq_toml_node_t *n, const char *key);
const rmq_toml_node_t *rmq_toml_table_getn(const rmq_toml_node_t *n, const char *key, size_t klen);
const rmq_toml_node_t *rmq_toml_table_at(const rmq_toml_node_t *n, size_t i, const char **key, size_t *klen);

/* Arrays (static arrays and arrays of tables alike). */
size_t rmq_toml_array_len(const rmq_toml_node_t *n);
const rmq_toml_node_t *rmq_toml_array_at(const rmq_toml_node_t *n, size_t i);

/* Typed getters: return false (and leave *out alone) on a type mismatch.
 * get_string hands out a borrowed NUL-terminated string; len may be NULL. */
bool rmq_toml_get_int(const rmq_toml_node_t *n, int64_t *out);
bool rmq_toml_get_float(const rmq_toml_node_t *n, double *out);
bool rmq_toml_get_bool(const rmq_toml_node_t *n, bool *out);
bool rmq_toml_get_string(const rmq_toml_node_t *n, const char **out, size_t *len);
bool rmq_toml_get_datetime(const rmq_toml_node_t *n, rmq_toml_datetime_t *out);

/* Format a date/time node's value the way TOML writes it
 * ("1979-05-27T07:32:00.999-07:00", "07:32:00", ...; Z for a zero offset)
 * into buf (NUL-terminated, truncated to buflen). Returns the length it
 * needed, 0 if n is not a date/time. */
size_t rmq_toml_datetime_format(const rmq_toml_node_t *n, char *buf, size_t buflen);

#endif
