/* kafka_api.h - the Kafka APIs this codec speaks: names, valid version
 * ranges, first flexible version and message descriptors, by api key.
 *
 * The table itself (rmq_kafka_api_table) is generated into kafka_msgs.c from
 * the JSON definitions. The broker keeps its own handler table
 * {api_key, min_version, max_version, fn} and answers ApiVersions with the
 * intersection of its ranges and these (rmq_kafka_api_intersect). All
 * returned pointers are to static storage. */
#ifndef RMQ_PROTOCOL_KAFKA_API_H
#define RMQ_PROTOCOL_KAFKA_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/kafka_codec.h"

typedef struct rmq_kafka_api_info {
    int16_t api_key;
    const char *name; /* "Produce", "ApiVersions", ... */
    int16_t min_version, max_version;
    int16_t flexible_from; /* first flexible request version, RMQ_KVER_MAX if none */
    const rmq_kafka_msg_desc_t *request;
    const rmq_kafka_msg_desc_t *response;
} rmq_kafka_api_info_t;

/* Generated, sorted by api_key; RMQ_KAFKA_NUM_APIS entries (kafka_msgs.h). */
extern const rmq_kafka_api_info_t rmq_kafka_api_table[];

/* Info for api_key, or NULL if the codec does not know it. */
const rmq_kafka_api_info_t *rmq_kafka_api_info(int16_t api_key);
/* Number of APIs and the i-th (0 <= i < count), in api-key order. */
size_t rmq_kafka_api_count(void);
const rmq_kafka_api_info_t *rmq_kafka_api_at(size_t i);
/* "Produce", ... or "Unknown". */
const char *rmq_kafka_api_name(int16_t api_key);
/* True if the codec can decode/encode api_key at version. */
bool rmq_kafka_api_version_supported(int16_t api_key, int16_t version);
/* Intersect [min,max] (e.g. a broker handler's range) with the codec's range
 * for api_key. Returns false (outputs untouched) if unknown or disjoint. */
bool rmq_kafka_api_intersect(int16_t api_key, int16_t min, int16_t max, int16_t *out_min, int16_t *out_max);
/* Request / response descriptor for api_key, NULL if unknown. */
const rmq_kafka_msg_desc_t *rmq_kafka_request_desc(int16_t api_key);
const rmq_kafka_msg_desc_t *rmq_kafka_response_desc(int16_t api_key);

#endif
