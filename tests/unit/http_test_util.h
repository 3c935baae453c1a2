/* http_test_util.h - a blocking libcurl request for the unit tests that
 * drive an admin REST server over real HTTP (test_admin_http.c,
 * test_ctl_admin.c). Header-only: every test is its own executable. */
#ifndef RMQ_TEST_HTTP_UTIL_H
#define RMQ_TEST_HTTP_UTIL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct resp {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    char *headers; /* raw header block, owned */
    size_t hlen;
    json_t *json; /* parsed body if it is a JSON object, owned */
} resp_t;

/* A NUL-terminated growing text (the body or the header block of a resp_t). */
typedef struct th_sink {
    char **p;
    size_t *len;
} th_sink_t;

static size_t th_write(char *p, size_t sz, size_t n, void *ud) {
    th_sink_t *s = ud;
    char *nb = realloc(*s->p, *s->len + sz * n + 1);
    if (!nb) return 0; /* curl fails the transfer, and th_request the test */
    memcpy(nb + *s->len, p, sz * n);
    *s->len += sz * n;
    nb[*s->len] = 0;
    *s->p = nb;
    return sz * n;
}

/* method base+path with an optional JSON body (borrowed); fails the test
 * if the transfer itself fails. Free the result with resp_free. */
static inline resp_t th_request(const char *base, const char *method, const char *path, const char *body) {
    resp_t r;
    memset(&r, 0, sizeof r);
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    th_sink_t body_sink = {&r.body, &r.len}, hdr_sink = {&r.headers, &r.hlen};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body_sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, th_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr_sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    struct curl_slist *h = NULL;
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    CURLcode rc = curl_easy_perform(c);
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (r.body && r.body[0] == '{') r.json = json_loads(r.body, 0, NULL);
    return r;
}

static inline void resp_free(resp_t *r) {
    free(r->body);
    free(r->headers);
    if (r->json) json_decref(r->json);
    memset(r, 0, sizeof *r);
}

#endif
