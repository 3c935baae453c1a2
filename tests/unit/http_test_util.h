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

static size_t th_wr_body(char *p, size_t sz, size_t n, void *ud) {
    resp_t *r = ud;
    r->body = realloc(r->body, r->len + sz * n + 1);
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = 0;
    return sz * n;
}

static size_t th_wr_hdr(char *p, size_t sz, size_t n, void *ud) {
    resp_t *r = ud;
    r->headers = realloc(r->headers, r->hlen + sz * n + 1);
    memcpy(r->headers + r->hlen, p, sz * n);
    r->hlen += sz * n;
    r->headers[r->hlen] = 0;
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
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, th_wr_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, th_wr_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
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
