/* kafka_api.c - lookups over the generated API table (see kafka_api.h).
 * The table is sorted by api key; a lazily built direct index would save a
 * few compares but the linear/binary search over ~30 rows is already cheap. */
#include "protocol/kafka_api.h"

#include "protocol/kafka_msgs.h"

const rmq_kafka_api_info_t *rmq_kafka_api_info(int16_t api_key) {
    size_t lo = 0, hi = RMQ_KAFKA_NUM_APIS;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int16_t k = rmq_kafka_api_table[mid].api_key;
        if (k == api_key) return &rmq_kafka_api_table[mid];
        if (k < api_key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t rmq_kafka_api_count(void) { return RMQ_KAFKA_NUM_APIS; }

const rmq_kafka_api_info_t *rmq_kafka_api_at(size_t i) {
    return i < RMQ_KAFKA_NUM_APIS ? &rmq_kafka_api_table[i] : NULL;
}

const char *rmq_kafka_api_name(int16_t api_key) {
    const rmq_kafka_api_info_t *i = rmq_kafka_api_info(api_key);
    return i ? i->name : "Unknown";
}

bool rmq_kafka_api_version_supported(int16_t api_key, int16_t version) {
    const rmq_kafka_api_info_t *i = rmq_kafka_api_info(api_key);
    return i && version >= i->min_version && version <= i->max_version;
}

bool rmq_kafka_api_intersect(int16_t api_key, int16_t min, int16_t max, int16_t *out_min, int16_t *out_max) {
    const rmq_kafka_api_info_t *i = rmq_kafka_api_info(api_key);
    if (!i) return false;
    int16_t lo = min > i->min_version ? min : i->min_version;
    int16_t hi = max < i->max_version ? max : i->max_version;
    if (lo > hi) return false;
    *out_min = lo;
    *out_max = hi;
    return true;
}

const rmq_kafka_msg_desc_t *rmq_kafka_request_desc(int16_t api_key) {
    const rmq_kafka_api_info_t *i = rmq_kafka_api_info(api_key);
    return i ? i->request : NULL;
}

const rmq_kafka_msg_desc_t *rmq_kafka_response_desc(int16_t api_key) {
    const rmq_kafka_api_info_t *i = rmq_kafka_api_info(api_key);
    return i ? i->response : NULL;
}
