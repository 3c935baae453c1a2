/* objstore_s3.c - the S3 object-store backend (objstore.h), also used for
 * GCS through its S3-compatible XML API.
 *
 * Owns: endpoint/credential configuration, a small pool of libcurl easy
 * handles (each keeps its own connection cache, so connections are reused
 * across calls from any thread), request signing with our SigV4 signer
 * (sigv4.h; every request carries x-amz-content-sha256), mapping of HTTP and
 * transport failures to rmq_err_t, and a minimal bounds-checked XML parser
 * for the responses we read (ListObjectsV2, InitiateMultipartUpload,
 * CompleteMultipartUpload, DeleteResult, Error), with entity decoding.
 *
 * Operations: PUT object (multipart above the threshold: initiate, upload
 * parts, complete; abort on failure), GET with Range (body length checked
 * against Content-Length and the requested range: a short body is
 * RMQ_ERR_CORRUPT, never short data), HEAD, ListObjectsV2 with continuation
 * tokens, multi-object delete (S3) or per-key DELETE (GCS). Nothing retries
 * here; retriable failures come back as RMQ_ERR_AGAIN / RMQ_ERR_TIMEOUT. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "storage/objstore.h"
#include "storage/sigv4.h"

/* ======================================================================
 * Minimal XML parser: elements, attributes (skipped), text with entity
 * decoding, CDATA, comments, processing instructions, DOCTYPE without an
 * internal subset. Calls back at every element close with the element path
 * and the text directly inside it. Never reads outside [p, p+n).
 * ====================================================================== */

#define XML_MAX_DEPTH 16
#define XML_MAX_TEXT (1u << 20)

typedef struct xml_ctx {
    const char *names[XML_MAX_DEPTH];
    size_t lens[XML_MAX_DEPTH];
    int depth; /* number of open elements */
} xml_ctx_t;

typedef rmq_err_t (*xml_close_fn)(void *ud, const xml_ctx_t *x, const char *text, size_t tlen);
typedef rmq_err_t (*xml_open_fn)(void *ud, const xml_ctx_t *x);

/* Element at depth d (1 = root) has local name `name`. */
static bool xml_is(const xml_ctx_t *x, int d, const char *name) {
    if (d < 1 || d > x->depth) return false;
    const char *nm = x->names[d - 1];
    size_t l = x->lens[d - 1];
    const char *colon = memchr(nm, ':', l);
    if (colon) {
        l -= (size_t)(colon + 1 - nm);
        nm = colon + 1;
    }
    return strlen(name) == l && memcmp(nm, name, l) == 0;
}

static const char *find_seq(const char *p, const char *end, const char *seq) {
    size_t sl = strlen(seq);
    while ((size_t)(end - p) >= sl) {
        if (memcmp(p, seq, sl) == 0) return p;
        p++;
    }
    return NULL;
}

static bool xml_name_char(char c) {
    return c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '/' && c != '>' && c != '<' && c != '=' &&
           c != '"' && c != '\'' && c != '&';
}

static void put_utf8(rmq_buf_t *b, uint32_t cp) {
    if (cp < 0x80) {
        rmq_buf_put_u8(b, (uint8_t)cp);
    } else if (cp < 0x800) {
        rmq_buf_put_u8(b, (uint8_t)(0xC0 | (cp >> 6)));
        rmq_buf_put_u8(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        rmq_buf_put_u8(b, (uint8_t)(0xE0 | (cp >> 12)));
        rmq_buf_put_u8(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        rmq_buf_put_u8(b, (uint8_t)(0x80 | (cp & 0x3F)));
    } else {
        rmq_buf_put_u8(b, (uint8_t)(0xF0 | (cp >> 18)));
        rmq_buf_put_u8(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
        rmq_buf_put_u8(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        rmq_buf_put_u8(b, (uint8_t)(0x80 | (cp & 0x3F)));
    }
}

/* Decode text [p, end) with entities, appending to b. */
static rmq_err_t xml_decode(rmq_buf_t *b, const char *p, const char *end) {
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        rmq_buf_put(b, p, (size_t)(stop - p));
        if (!amp) break;
        const char *semi = memchr(amp, ';', (size_t)(end - amp) < 12 ? (size_t)(end - amp) : 12);
        if (!semi) return RMQ_ERR_PARSE;
        const char *e = amp + 1;
        size_t el = (size_t)(semi - e);
        if (el == 3 && memcmp(e, "amp", 3) == 0) rmq_buf_put_u8(b, '&');
        else if (el == 2 && memcmp(e, "lt", 2) == 0) rmq_buf_put_u8(b, '<');
        else if (el == 2 && memcmp(e, "gt", 2) == 0) rmq_buf_put_u8(b, '>');
        else if (el == 4 && memcmp(e, "quot", 4) == 0) rmq_buf_put_u8(b, '"');
        else if (el == 4 && memcmp(e, "apos", 4) == 0) rmq_buf_put_u8(b, '\'');
        else if (el >= 2 && e[0] == '#') {
            uint32_t cp = 0;
            bool hex = e[1] == 'x' || e[1] == 'X';
            const char *d = e + (hex ? 2 : 1);
            if (d >= semi) return RMQ_ERR_PARSE;
            for (; d < semi; d++) {
                int v;
                if (*d >= '0' && *d <= '9') v = *d - '0';
                else if (hex && *d >= 'a' && *d <= 'f') v = *d - 'a' + 10;
                else if (hex && *d >= 'A' && *d <= 'F') v = *d - 'A' + 10;
                else return RMQ_ERR_PARSE;
                cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
                if (cp > 0x10FFFF) return RMQ_ERR_PARSE;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return RMQ_ERR_PARSE;
            put_utf8(b, cp);
        } else {
            return RMQ_ERR_PARSE;
        }
        p = semi + 1;
    }
    return b->oom ? RMQ_ERR_NOMEM : 0;
}

static rmq_err_t xml_parse(const void *data, size_t n, xml_open_fn on_open, xml_close_fn on_close, void *ud) {
    const char *p = data, *end = p + n;
    xml_ctx_t x = {.depth = 0};
    rmq_buf_t text;
    rmq_buf_init(&text);
    rmq_err_t err = 0;
    bool seen_root = false;
    while (p < end && !err) {
        if (*p != '<') {
            const char *lt = memchr(p, '<', (size_t)(end - p));
            const char *stop = lt ? lt : end;
            if (x.depth > 0) {
                err = xml_decode(&text, p, stop);
                if (!err && text.len > XML_MAX_TEXT) err = RMQ_ERR_PARSE;
            } else {
                for (const char *q = p; q < stop; q++)
                    if (!isspace((unsigned char)*q)) err = RMQ_ERR_PARSE;
            }
            p = stop;
            continue;
        }
        size_t left = (size_t)(end - p);
        if (left >= 2 && p[1] == '?') {
            const char *q = find_seq(p + 2, end, "?>");
            if (!q) err = RMQ_ERR_PARSE;
            else p = q + 2;
        } else if (left >= 4 && memcmp(p, "<!--", 4) == 0) {
            const char *q = find_seq(p + 4, end, "-->");
            if (!q) err = RMQ_ERR_PARSE;
            else p = q + 3;
        } else if (left >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            const char *q = find_seq(p + 9, end, "]]>");
            if (!q || x.depth == 0) err = RMQ_ERR_PARSE;
            else {
                rmq_buf_put(&text, p + 9, (size_t)(q - (p + 9)));
                if (text.len > XML_MAX_TEXT) err = RMQ_ERR_PARSE;
                p = q + 3;
            }
        } else if (left >= 2 && p[1] == '!') {
            const char *q = memchr(p, '>', left);
            if (!q || memchr(p, '[', (size_t)(q - p)) || x.depth > 0) err = RMQ_ERR_PARSE;
            else p = q + 1;
        } else if (left >= 2 && p[1] == '/') {
            const char *nm = p + 2, *q = nm;
            while (q < end && xml_name_char(*q)) q++;
            size_t nl = (size_t)(q - nm);
            while (q < end && isspace((unsigned char)*q)) q++;
            if (nl == 0 || q >= end || *q != '>' || x.depth == 0 || x.lens[x.depth - 1] != nl ||
                memcmp(x.names[x.depth - 1], nm, nl) != 0) {
                err = RMQ_ERR_PARSE;
                break;
            }
            if (text.oom) err = RMQ_ERR_NOMEM;
            else if (on_close) err = on_close(ud, &x, text.data ? (const char *)text.data : "", text.len);
            rmq_buf_reset(&text);
            x.depth--;
            p = q + 1;
        } else {
            const char *nm = p + 1, *q = nm;
            while (q < end && xml_name_char(*q)) q++;
            size_t nl = (size_t)(q - nm);
            if (nl == 0 || x.depth >= XML_MAX_DEPTH || (x.depth == 0 && seen_root)) {
                err = RMQ_ERR_PARSE;
                break;
            }
            /* attributes: skip, honouring quotes */
            bool self_close = false, closed = false;
            while (q < end) {
                if (*q == '"' || *q == '\'') {
                    const char *cq = memchr(q + 1, *q, (size_t)(end - q - 1));
                    if (!cq) break;
                    q = cq + 1;
                    continue;
                }
                if (*q == '<') break;
                if (*q == '>') {
                    closed = true;
                    self_close = q > nm && q[-1] == '/';
                    q++;
                    break;
                }
                q++;
            }
            if (!closed) {
                err = RMQ_ERR_PARSE;
                break;
            }
            x.names[x.depth] = nm;
            x.lens[x.depth] = nl;
            x.depth++;
            seen_root = true;
            rmq_buf_reset(&text);
            if (on_open) err = on_open(ud, &x);
            if (!err && self_close) {
                if (on_close) err = on_close(ud, &x, "", 0);
                x.depth--;
            }
            p = q;
        }
    }
    if (!err && (x.depth != 0 || !seen_root)) err = RMQ_ERR_PARSE;
    rmq_buf_free(&text);
    return err;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n == 0 || n > 20) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void copy_trunc(char *dst, size_t cap, const char *src, size_t n) {
    if (!cap) return;
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)dst[i] < 0x20) dst[i] = '?';
}

/* ---- ListObjectsV2 ---- */
typedef struct list_st {
    rmq_obj_list_t *out;
    char *key;
    size_t key_len;
    uint64_t size;
    bool have_size;
} list_st_t;

static rmq_err_t list_open(void *ud, const xml_ctx_t *x) {
    list_st_t *ls = ud;
    if (x->depth == 1 && !xml_is(x, 1, "ListBucketResult")) return RMQ_ERR_PARSE;
    if (x->depth == 2 && xml_is(x, 2, "Contents")) {
        free(ls->key);
        ls->key = NULL;
        ls->have_size = false;
    }
    return 0;
}

static rmq_err_t list_close(void *ud, const xml_ctx_t *x, const char *t, size_t tl) {
    list_st_t *ls = ud;
    rmq_obj_list_t *out = ls->out;
    if (x->depth == 3 && xml_is(x, 2, "Contents")) {
        if (xml_is(x, 3, "Key")) {
            if (ls->key || tl == 0 || tl > RMQ_OBJ_KEY_MAX || memchr(t, '\0', tl)) return RMQ_ERR_PARSE;
            ls->key = malloc(tl + 1);
            if (!ls->key) return RMQ_ERR_NOMEM;
            memcpy(ls->key, t, tl);
            ls->key[tl] = '\0';
            ls->key_len = tl;
        } else if (xml_is(x, 3, "Size")) {
            if (!parse_u64(t, tl, &ls->size)) return RMQ_ERR_PARSE;
            ls->have_size = true;
        }
    } else if (x->depth == 2) {
        if (xml_is(x, 2, "Contents")) {
            if (!ls->key || !ls->have_size) return RMQ_ERR_PARSE;
            rmq_err_t e = rmq_obj_list_push(out, ls->key, ls->key_len, ls->size);
            free(ls->key);
            ls->key = NULL;
            return e;
        }
        if (xml_is(x, 2, "IsTruncated")) {
            if (tl == 4 && memcmp(t, "true", 4) == 0) out->truncated = true;
            else if (tl == 5 && memcmp(t, "false", 5) == 0) out->truncated = false;
            else return RMQ_ERR_PARSE;
        } else if (xml_is(x, 2, "NextContinuationToken")) {
            if (out->next_token || tl == 0 || memchr(t, '\0', tl) || tl > 4096) return RMQ_ERR_PARSE;
            out->next_token = strndup(t, tl);
            if (!out->next_token) return RMQ_ERR_NOMEM;
        }
    }
    return 0;
}

rmq_err_t rmq_s3_parse_list(const void *xml, size_t len, rmq_obj_list_t *out) {
    list_st_t ls = {.out = out};
    out->truncated = false;
    rmq_err_t err = xml_parse(xml, len, list_open, list_close, &ls);
    free(ls.key);
    if (!err && out->truncated && !out->next_token) err = RMQ_ERR_PARSE; /* cannot continue */
    if (!err && !out->truncated && out->next_token) {
        free(out->next_token);
        out->next_token = NULL;
    }
    return err;
}

/* ---- InitiateMultipartUploadResult ---- */
typedef struct upid_st {
    char *id;
    bool root_ok;
} upid_st_t;

static rmq_err_t upid_close(void *ud, const xml_ctx_t *x, const char *t, size_t tl) {
    upid_st_t *u = ud;
    if (x->depth == 1) u->root_ok = xml_is(x, 1, "InitiateMultipartUploadResult");
    if (x->depth == 2 && xml_is(x, 1, "InitiateMultipartUploadResult") && xml_is(x, 2, "UploadId")) {
        if (u->id || tl == 0 || tl > 1024 || memchr(t, '\0', tl)) return RMQ_ERR_PARSE;
        u->id = strndup(t, tl);
        if (!u->id) return RMQ_ERR_NOMEM;
    }
    return 0;
}

rmq_err_t rmq_s3_parse_upload_id(const void *xml, size_t len, char **upload_id) {
    upid_st_t u = {0};
    *upload_id = NULL;
    rmq_err_t err = xml_parse(xml, len, NULL, upid_close, &u);
    if (!err && (!u.root_ok || !u.id)) err = RMQ_ERR_PARSE;
    if (err) {
        free(u.id);
        return err;
    }
    *upload_id = u.id;
    return 0;
}

/* ---- Error ---- */
typedef struct errx_st {
    char *code, *message;
    size_t ccap, mcap;
    bool found;
} errx_st_t;

static rmq_err_t errx_close(void *ud, const xml_ctx_t *x, const char *t, size_t tl) {
    errx_st_t *e = ud;
    if (x->depth == 1 && xml_is(x, 1, "Error")) e->found = true;
    if (x->depth == 2 && xml_is(x, 1, "Error")) {
        if (xml_is(x, 2, "Code")) copy_trunc(e->code, e->ccap, t, tl);
        else if (xml_is(x, 2, "Message")) copy_trunc(e->message, e->mcap, t, tl);
    }
    return 0;
}

rmq_err_t rmq_s3_parse_error(const void *xml, size_t len, char *code, size_t code_cap, char *message,
                             size_t message_cap) {
    if (code_cap) code[0] = '\0';
    if (message_cap) message[0] = '\0';
    errx_st_t e = {.code = code, .message = message, .ccap = code_cap, .mcap = message_cap};
    rmq_err_t err = xml_parse(xml, len, NULL, errx_close, &e);
    if (err) return err;
    return e.found ? 0 : RMQ_ERR_NOT_FOUND;
}

/* ---- DeleteResult ---- */
typedef struct delr_st {
    size_t n_errors;
    char *first;
    size_t cap;
    char key[256], code[64], msg[128];
    bool root_ok;
} delr_st_t;

static rmq_err_t delr_open(void *ud, const xml_ctx_t *x) {
    delr_st_t *d = ud;
    if (x->depth == 2 && xml_is(x, 2, "Error")) d->key[0] = d->code[0] = d->msg[0] = '\0';
    return 0;
}

static rmq_err_t delr_close(void *ud, const xml_ctx_t *x, const char *t, size_t tl) {
    delr_st_t *d = ud;
    if (x->depth == 1) d->root_ok = xml_is(x, 1, "DeleteResult");
    if (!xml_is(x, 1, "DeleteResult")) return 0;
    if (x->depth == 3 && xml_is(x, 2, "Error")) {
        if (xml_is(x, 3, "Key")) copy_trunc(d->key, sizeof d->key, t, tl);
        else if (xml_is(x, 3, "Code")) copy_trunc(d->code, sizeof d->code, t, tl);
        else if (xml_is(x, 3, "Message")) copy_trunc(d->msg, sizeof d->msg, t, tl);
    } else if (x->depth == 2 && xml_is(x, 2, "Error")) {
        if (d->n_errors == 0 && d->cap) snprintf(d->first, d->cap, "%s: %s %s", d->key, d->code, d->msg);
        d->n_errors++;
    }
    return 0;
}

rmq_err_t rmq_s3_parse_delete_result(const void *xml, size_t len, size_t *n_errors, char *first, size_t first_cap) {
    delr_st_t d = {.first = first, .cap = first_cap};
    if (first_cap) first[0] = '\0';
    *n_errors = 0;
    rmq_err_t err = xml_parse(xml, len, delr_open, delr_close, &d);
    if (!err && !d.root_ok) err = RMQ_ERR_PARSE;
    if (!err) *n_errors = d.n_errors;
    return err;
}

static void xml_escape(rmq_buf_t *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': rmq_buf_put(b, "&amp;", 5); break;
        case '<': rmq_buf_put(b, "&lt;", 4); break;
        case '>': rmq_buf_put(b, "&gt;", 4); break;
        case '"': rmq_buf_put(b, "&quot;", 6); break;
        case '\'': rmq_buf_put(b, "&apos;", 6); break;
        default: rmq_buf_put_u8(b, (uint8_t)*s);
        }
    }
}

/* ======================================================================
 * The backend
 * ====================================================================== */

#define POOL_MAX 16
#define ERR_BODY_MAX (64u << 10)
#define XML_BODY_MAX (16u << 20)
#define DELETE_BATCH 1000

typedef struct s3_store {
    rmq_obj_store_t base;
    bool gcs;
    bool https;
    char *scheme;    /* "http" / "https" */
    char *authority; /* host[:port] of the endpoint */
    char *bucket;
    char *region;
    bool path_style;
    char *access_key, *secret_key, *token;
    uint64_t multipart_threshold, part_size;
    long connect_timeout_ms, timeout_ms, low_speed_limit, low_speed_time_s;
    size_t page_size;
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    int npool;
} s3_store_t;

static s3_store_t *S(rmq_obj_store_t *s) { return (s3_store_t *)s; }

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static CURL *pool_get(s3_store_t *s) {
    CURL *h = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->npool > 0) h = s->pool[--s->npool];
    pthread_mutex_unlock(&s->mu);
    if (h) curl_easy_reset(h); /* keeps the connection cache */
    else h = curl_easy_init();
    return h;
}

static void pool_put(s3_store_t *s, CURL *h, bool healthy) {
    if (!h) return;
    if (healthy) {
        pthread_mutex_lock(&s->mu);
        if (s->npool < POOL_MAX) {
            s->pool[s->npool++] = h;
            h = NULL;
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (h) curl_easy_cleanup(h);
}

typedef struct s3_call {
    const char *method;
    const char *key; /* raw key, NULL = bucket-level */
    rmq_sigv4_param_t q[4];
    size_t nq;
    const char *content_type;
    const char *range;
    const char *content_md5;
    const void *body;
    size_t body_len;
    /* 2xx body destination: sink (caller buffer, appended, at most
     * sink_limit bytes) or the response's own buffer (XML, capped) */
    rmq_buf_t *sink;
    uint64_t sink_limit;
} s3_call_t;

typedef struct s3_resp {
    CURL *h;
    long status;
    rmq_buf_t body; /* non-2xx bodies and 2xx XML bodies */
    rmq_buf_t *sink;
    uint64_t sink_limit, sink_got;
    bool overflow;
    bool ranged; /* a Range header was sent */
    bool enough; /* 200 to a ranged GET: stopped once the range was in */
    char etag[160];
    int64_t content_length;
    bool has_crange;
    uint64_t cr_start, cr_end, cr_total;
} s3_resp_t;

static size_t on_body(char *ptr, size_t sz, size_t nm, void *ud) {
    s3_resp_t *r = ud;
    size_t n = sz * nm;
    long status = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300 && r->sink) {
        if (status == 200 && r->ranged && r->sink_got + n >= r->sink_limit) {
            /* the server ignored Range: keep the prefix we need, then stop */
            size_t take = (size_t)(r->sink_limit - r->sink_got);
            rmq_buf_put(r->sink, ptr, take);
            r->sink_got += take;
            r->enough = true;
            return r->sink->oom ? 0 : (take == n ? n : 0);
        }
        if (r->sink_got + n > r->sink_limit) {
            r->overflow = true;
            return 0;
        }
        rmq_buf_put(r->sink, ptr, n);
        if (r->sink->oom) return 0;
        r->sink_got += n;
        return n;
    }
    size_t cap = status >= 200 && status < 300 ? XML_BODY_MAX : ERR_BODY_MAX;
    if (r->body.len + n > cap) {
        r->overflow = true;
        return 0;
    }
    rmq_buf_put(&r->body, ptr, n);
    return r->body.oom ? 0 : n;
}

static bool hdr_name_is(const char *line, size_t n, const char *name) {
    size_t l = strlen(name);
    return n > l && line[l] == ':' && strncasecmp(line, name, l) == 0;
}

static size_t on_header(char *ptr, size_t sz, size_t nm, void *ud) {
    s3_resp_t *r = ud;
    size_t n = sz * nm;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) { /* new response (e.g. after 100) */
        r->etag[0] = '\0';
        r->content_length = -1;
        r->has_crange = false;
        return n;
    }
    char line[512];
    size_t l = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, ptr, l);
    line[l] = '\0';
    while (l && (line[l - 1] == '\r' || line[l - 1] == '\n' || line[l - 1] == ' ')) line[--l] = '\0';
    char *colon = memchr(line, ':', l);
    if (!colon) return n;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    if (hdr_name_is(line, l, "etag")) {
        snprintf(r->etag, sizeof r->etag, "%s", v);
    } else if (hdr_name_is(line, l, "content-length")) {
        uint64_t x;
        r->content_length = parse_u64(v, strlen(v), &x) && x <= INT64_MAX ? (int64_t)x : -1;
    } else if (hdr_name_is(line, l, "content-range")) {
        unsigned long long a, b, t;
        if (sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t) == 3 && a <= b) {
            r->has_crange = true;
            r->cr_start = a;
            r->cr_end = b;
            r->cr_total = t;
        }
    }
    return n;
}

static rmq_err_t status_err(s3_store_t *s, long status, const char *code) {
    (void)s;
    if (status == 404) return code && strcmp(code, "NoSuchBucket") == 0 ? RMQ_ERR_CONFIG : RMQ_ERR_NOT_FOUND;
    if (status == 416) return RMQ_ERR_INVALID_ARG;
    if (status == 408 || status == 429 || status >= 500) return RMQ_ERR_AGAIN;
    if (code && (strcmp(code, "RequestTimeout") == 0 || strcmp(code, "SlowDown") == 0 ||
                 strcmp(code, "InternalError") == 0))
        return RMQ_ERR_AGAIN;
    return RMQ_ERR_IO;
}

static rmq_err_t curl_err(CURLcode rc) {
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return RMQ_ERR_TIMEOUT;
    case CURLE_PARTIAL_FILE:
        return RMQ_ERR_CORRUPT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        return RMQ_ERR_AGAIN;
    case CURLE_OUT_OF_MEMORY:
        return RMQ_ERR_NOMEM;
    default:
        return RMQ_ERR_IO;
    }
}

static void put_cstr(rmq_buf_t *b, const char *s) { rmq_buf_put(b, s, strlen(s)); }

static struct curl_slist *add_hdr(struct curl_slist *l, bool *ok, const char *name, const char *value) {
    char line[4096 + 64];
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    if (n < 0 || n >= (int)sizeof line) {
        *ok = false;
        return l;
    }
    struct curl_slist *nl = curl_slist_append(l, line);
    if (!nl) {
        *ok = false;
        return l;
    }
    return nl;
}

/* Perform one signed request. On a transport/HTTP failure the sink is
 * rolled back to its length on entry. r->body must be released by the
 * caller (rmq_buf_free) whatever the result. */
static rmq_err_t s3_do(s3_store_t *s, const s3_call_t *c, s3_resp_t *r, rmq_obj_status_t *st) {
    memset(r, 0, sizeof(*r));
    rmq_buf_init(&r->body);
    r->content_length = -1;
    r->sink = c->sink;
    r->sink_limit = c->sink_limit;
    r->ranged = c->range != NULL;
    size_t sink_start = c->sink ? c->sink->len : 0;

    /* path, host, URL */
    rmq_buf_t raw, url, host;
    rmq_buf_init(&raw);
    rmq_buf_init(&url);
    rmq_buf_init(&host);
    rmq_buf_put_u8(&raw, '/');
    if (s->path_style) {
        put_cstr(&raw, s->bucket);
        if (c->key) rmq_buf_put_u8(&raw, '/');
        put_cstr(&host, s->authority);
    } else {
        put_cstr(&host, s->bucket);
        rmq_buf_put_u8(&host, '.');
        put_cstr(&host, s->authority);
    }
    if (c->key) put_cstr(&raw, c->key);
    rmq_buf_put_u8(&raw, 0);
    rmq_buf_put_u8(&host, 0);
    put_cstr(&url, s->scheme);
    put_cstr(&url, "://");
    put_cstr(&url, (const char *)host.data);
    rmq_sigv4_encode_path(&url, (const char *)raw.data, false);
    if (c->nq) {
        rmq_buf_put_u8(&url, '?');
        rmq_sigv4_canonical_query(&url, c->q, c->nq);
    }
    rmq_buf_put_u8(&url, 0);

    rmq_err_t err = 0;
    rmq_sigv4_out_t sig;
    rmq_sigv4_out_init(&sig);
    struct curl_slist *hl = NULL;
    CURL *h = NULL;
    bool healthy = true;
    if (raw.oom || url.oom || host.oom) {
        err = rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory");
        goto done;
    }

    char amz_date[17];
    rmq_sigv4_amz_date((int64_t)time(NULL), amz_date);
    rmq_sigv4_header_t hs[4];
    size_t nh = 0;
    hs[nh++] = (rmq_sigv4_header_t){"host", (const char *)host.data};
    if (c->content_type) hs[nh++] = (rmq_sigv4_header_t){"content-type", c->content_type};
    if (c->range) hs[nh++] = (rmq_sigv4_header_t){"range", c->range};
    if (c->content_md5) hs[nh++] = (rmq_sigv4_header_t){"content-md5", c->content_md5};
    rmq_sigv4_creds_t creds = {s->access_key, s->secret_key, s->token};
    rmq_sigv4_params_t params = {
        .region = s->region, .service = "s3", .amz_date = amz_date, .normalize_path = false, .add_content_sha256 = true};
    rmq_sigv4_request_t req = {.method = c->method,
                               .path = (const char *)raw.data,
                               .query = c->q,
                               .n_query = c->nq,
                               .headers = hs,
                               .n_headers = nh,
                               .body = c->body,
                               .body_len = c->body_len};
    err = rmq_sigv4_sign(&creds, &params, &req, &sig);
    if (err) {
        err = rmq_obj_fail(st, err, 0, "signing failed: %s", rmq_err_name(err));
        goto done;
    }
    bool ok = true;
    hl = add_hdr(hl, &ok, "Host", (const char *)host.data);
    hl = add_hdr(hl, &ok, "x-amz-date", amz_date);
    hl = add_hdr(hl, &ok, "x-amz-content-sha256", sig.payload_hash);
    if (s->token && *s->token) hl = add_hdr(hl, &ok, "x-amz-security-token", s->token);
    if (c->content_type) hl = add_hdr(hl, &ok, "Content-Type", c->content_type);
    if (c->range) hl = add_hdr(hl, &ok, "Range", c->range);
    if (c->content_md5) hl = add_hdr(hl, &ok, "Content-MD5", c->content_md5);
    hl = add_hdr(hl, &ok, "Authorization", (const char *)sig.authorization.data);
    if (ok) {
        struct curl_slist *nl = curl_slist_append(hl, "Expect:");
        if (nl) hl = nl;
        else ok = false;
    }
    if (!ok) {
        err = rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "building headers failed");
        goto done;
    }

    h = pool_get(s);
    if (!h) {
        err = rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "curl_easy_init failed");
        goto done;
    }
    r->h = h;
    curl_easy_setopt(h, CURLOPT_URL, (const char *)url.data);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
    if (s->timeout_ms > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, s->low_speed_limit);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->low_speed_time_s);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(c->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(c->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(c->method, "PUT") == 0 || strcmp(c->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body ? (const char *)c->body : "");
        if (c->method[1] == 'U') curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    }

    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (rc == CURLE_WRITE_ERROR && r->enough && !r->sink->oom) {
        healthy = false; /* the rest of the body is still on the connection */
        goto done;
    }
    if (rc != CURLE_OK) {
        healthy = false;
        if (rc == CURLE_WRITE_ERROR && r->overflow)
            err = rmq_obj_fail(st, r->sink ? RMQ_ERR_CORRUPT : RMQ_ERR_IO, (int)r->status,
                               "%s %s: response body longer than expected", c->method, c->key ? c->key : "/");
        else if (rc == CURLE_WRITE_ERROR)
            err = rmq_obj_fail(st, RMQ_ERR_NOMEM, (int)r->status, "%s: no memory for body", c->method);
        else
            err = rmq_obj_fail(st, curl_err(rc), (int)r->status, "%s %s: %s", c->method, c->key ? c->key : "/",
                               curl_easy_strerror(rc));
        goto done;
    }
    if (r->status < 200 || r->status >= 300) {
        char code[64] = "", msg[160] = "";
        if (r->body.len) rmq_s3_parse_error(r->body.data, r->body.len, code, sizeof code, msg, sizeof msg);
        err = rmq_obj_fail(st, status_err(s, r->status, code), (int)r->status, "%s %s: HTTP %ld %s %s", c->method,
                           c->key ? c->key : "/", r->status, code, msg);
        goto done;
    }
    if (r->sink && !r->enough && r->content_length >= 0 && (uint64_t)r->content_length != r->sink_got) {
        err = rmq_obj_fail(st, RMQ_ERR_CORRUPT, (int)r->status, "%s %s: body %llu bytes, Content-Length %lld",
                           c->method, c->key ? c->key : "/", (unsigned long long)r->sink_got,
                           (long long)r->content_length);
        goto done;
    }
done:
    if (err && c->sink) c->sink->len = sink_start;
    pool_put(s, h, healthy);
    curl_slist_free_all(hl);
    rmq_sigv4_out_free(&sig);
    rmq_buf_free(&raw);
    rmq_buf_free(&url);
    rmq_buf_free(&host);
    return err;
}

static rmq_err_t put_single(s3_store_t *s, const char *key, const void *data, size_t len, rmq_obj_status_t *st) {
    s3_call_t c = {.method = "PUT",
                   .key = key,
                   .content_type = "application/octet-stream",
                   .body = data,
                   .body_len = len};
    s3_resp_t r;
    rmq_err_t err = s3_do(s, &c, &r, st);
    rmq_buf_free(&r.body);
    return err;
}

static void abort_upload(s3_store_t *s, const char *key, const char *upload_id) {
    s3_call_t c = {.method = "DELETE", .key = key, .q = {{"uploadId", upload_id}}, .nq = 1};
    s3_resp_t r;
    rmq_obj_status_t ignore;
    s3_do(s, &c, &r, &ignore); /* best effort: a leaked upload is reaped by a
                                * bucket lifecycle rule */
    rmq_buf_free(&r.body);
}

static rmq_err_t put_multipart(s3_store_t *s, const char *key, const uint8_t *data, size_t len,
                               rmq_obj_status_t *st) {
    s3_call_t c = {.method = "POST",
                   .key = key,
                   .q = {{"uploads", ""}},
                   .nq = 1,
                   .content_type = "application/octet-stream"};
    s3_resp_t r;
    rmq_err_t err = s3_do(s, &c, &r, st);
    char *upload_id = NULL;
    if (!err && rmq_s3_parse_upload_id(r.body.data, r.body.len, &upload_id))
        err = rmq_obj_fail(st, RMQ_ERR_IO, (int)r.status, "initiate multipart %s: bad response", key);
    rmq_buf_free(&r.body);
    if (err) return err;

    size_t nparts = (len + s->part_size - 1) / s->part_size;
    rmq_buf_t done;
    rmq_buf_init(&done);
    put_cstr(&done, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < nparts && !err; i++) {
        size_t off = i * s->part_size;
        size_t pl = len - off < s->part_size ? len - off : s->part_size;
        char pn[24];
        snprintf(pn, sizeof pn, "%zu", i + 1);
        s3_call_t pc = {.method = "PUT",
                        .key = key,
                        .q = {{"partNumber", pn}, {"uploadId", upload_id}},
                        .nq = 2,
                        .content_type = "application/octet-stream",
                        .body = data + off,
                        .body_len = pl};
        err = s3_do(s, &pc, &r, st);
        if (!err && !r.etag[0])
            err = rmq_obj_fail(st, RMQ_ERR_IO, (int)r.status, "upload part %zu of %s: no ETag", i + 1, key);
        if (!err) {
            put_cstr(&done, "<Part><PartNumber>");
            put_cstr(&done, pn);
            put_cstr(&done, "</PartNumber><ETag>");
            xml_escape(&done, r.etag);
            put_cstr(&done, "</ETag></Part>");
        }
        rmq_buf_free(&r.body);
    }
    put_cstr(&done, "</CompleteMultipartUpload>");
    if (!err && done.oom) err = rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory");
    if (!err) {
        s3_call_t cc = {.method = "POST",
                        .key = key,
                        .q = {{"uploadId", upload_id}},
                        .nq = 1,
                        .content_type = "application/xml",
                        .body = done.data,
                        .body_len = done.len};
        err = s3_do(s, &cc, &r, st);
        if (!err) {
            /* S3 may answer 200 and still fail: the error is in the body */
            char code[64], msg[160];
            if (rmq_s3_parse_error(r.body.data, r.body.len, code, sizeof code, msg, sizeof msg) == 0)
                err = rmq_obj_fail(st, status_err(s, 500, code), (int)r.status, "complete multipart %s: %s %s", key,
                                   code, msg);
        }
        rmq_buf_free(&r.body);
    }
    rmq_buf_free(&done);
    if (err) abort_upload(s, key, upload_id);
    free(upload_id);
    return err;
}

static rmq_err_t s3_put(rmq_obj_store_t *os, const char *key, const void *data, size_t len, rmq_obj_status_t *st) {
    s3_store_t *s = S(os);
    if ((uint64_t)len >= s->multipart_threshold && len > s->part_size) return put_multipart(s, key, data, len, st);
    return put_single(s, key, data, len, st);
}

static rmq_err_t s3_head(rmq_obj_store_t *os, const char *key, uint64_t *size, rmq_obj_status_t *st) {
    s3_store_t *s = S(os);
    s3_call_t c = {.method = "HEAD", .key = key};
    s3_resp_t r;
    rmq_err_t err = s3_do(s, &c, &r, st);
    rmq_buf_free(&r.body);
    if (err) return err;
    if (r.content_length < 0) return rmq_obj_fail(st, RMQ_ERR_IO, (int)r.status, "HEAD %s: no Content-Length", key);
    if (size) *size = (uint64_t)r.content_length;
    return 0;
}

static rmq_err_t s3_get(rmq_obj_store_t *os, const char *key, uint64_t offset, int64_t length, rmq_buf_t *out,
                        rmq_obj_status_t *st) {
    s3_store_t *s = S(os);
    if (length == 0) {
        uint64_t size;
        rmq_err_t err = s3_head(os, key, &size, st);
        if (err) return err;
        if (offset > size)
            return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, 0, "range start past end of %s (size %llu)", key,
                                (unsigned long long)size);
        return 0;
    }
    char range[64] = "";
    if (length > 0)
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)offset,
                 (unsigned long long)(offset + (uint64_t)length - 1));
    else if (offset > 0)
        snprintf(range, sizeof range, "bytes=%llu-", (unsigned long long)offset);
    size_t start = out->len;
    s3_call_t c = {.method = "GET",
                   .key = key,
                   .range = range[0] ? range : NULL,
                   .sink = out,
                   /* a server that ignores Range sends the whole object
                    * from 0; allow up to the end of the wanted range */
                   .sink_limit = length > 0 ? offset + (uint64_t)length : (uint64_t)SIZE_MAX / 2};
    s3_resp_t r;
    rmq_err_t err = s3_do(s, &c, &r, st);
    rmq_buf_free(&r.body);
    if (err) return err;
    uint64_t got = r.sink_got;
    if (r.status == 206) {
        if (!r.has_crange || r.cr_start != offset || r.cr_end + 1 - r.cr_start != got) {
            out->len = start;
            return rmq_obj_fail(st, RMQ_ERR_CORRUPT, 206, "GET %s: Content-Range does not match the request", key);
        }
    } else if (range[0]) {
        /* 200 with the whole object: cut out the range */
        if (got < offset) {
            out->len = start;
            return rmq_obj_fail(st, RMQ_ERR_INVALID_ARG, (int)r.status, "range start past end of %s", key);
        }
        memmove(out->data + start, out->data + start + offset, (size_t)(got - offset));
        got -= offset;
        out->len = start + (size_t)got;
    }
    if (length > 0 && got != (uint64_t)length) {
        out->len = start;
        return rmq_obj_fail(st, RMQ_ERR_CORRUPT, (int)r.status, "GET %s: %llu of %lld bytes", key,
                            (unsigned long long)got, (long long)length);
    }
    if (length < 0 && r.status == 206 && r.cr_end + 1 != r.cr_total) {
        out->len = start;
        return rmq_obj_fail(st, RMQ_ERR_CORRUPT, 206, "GET %s: range to end stopped at %llu of %llu", key,
                            (unsigned long long)(r.cr_end + 1), (unsigned long long)r.cr_total);
    }
    return 0;
}

static rmq_err_t s3_list(rmq_obj_store_t *os, const char *prefix, const char *token, size_t max_keys,
                         rmq_obj_list_t *out, rmq_obj_status_t *st) {
    s3_store_t *s = S(os);
    if (max_keys == 0) max_keys = s->page_size;
    if (max_keys > 1000) max_keys = 1000;
    char mk[24];
    snprintf(mk, sizeof mk, "%zu", max_keys);
    s3_call_t c = {.method = "GET", .key = NULL};
    c.q[c.nq++] = (rmq_sigv4_param_t){"list-type", "2"};
    c.q[c.nq++] = (rmq_sigv4_param_t){"max-keys", mk};
    if (prefix) c.q[c.nq++] = (rmq_sigv4_param_t){"prefix", prefix};
    if (token) c.q[c.nq++] = (rmq_sigv4_param_t){"continuation-token", token};
    s3_resp_t r;
    rmq_err_t err = s3_do(s, &c, &r, st);
    if (!err) {
        err = rmq_s3_parse_list(r.body.data, r.body.len, out);
        if (err) {
            rmq_obj_list_free(out);
            err = rmq_obj_fail(st, err == RMQ_ERR_NOMEM ? err : RMQ_ERR_IO, (int)r.status,
                               "list: malformed ListObjectsV2 response");
        }
    }
    rmq_buf_free(&r.body);
    return err;
}

static rmq_err_t md5_b64(const void *data, size_t len, char out[32]) {
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    if (!EVP_Digest(data, len, md, &ml, EVP_md5(), NULL) || ml != 16) return RMQ_ERR_IO;
    EVP_EncodeBlock((unsigned char *)out, md, 16); /* 24 chars + NUL */
    return 0;
}

static rmq_err_t s3_del(rmq_obj_store_t *os, const char *const *keys, size_t n, rmq_obj_status_t *st) {
    s3_store_t *s = S(os);
    rmq_err_t err = 0;
    if (s->gcs) { /* GCS's XML API has no multi-object delete */
        for (size_t i = 0; i < n && !err; i++) {
            s3_call_t c = {.method = "DELETE", .key = keys[i]};
            s3_resp_t r;
            err = s3_do(s, &c, &r, st);
            rmq_buf_free(&r.body);
            if (err == RMQ_ERR_NOT_FOUND) err = 0;
        }
        return err;
    }
    for (size_t base = 0; base < n && !err; base += DELETE_BATCH) {
        size_t cnt = n - base < DELETE_BATCH ? n - base : DELETE_BATCH;
        rmq_buf_t xml;
        rmq_buf_init(&xml);
        put_cstr(&xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>");
        for (size_t i = 0; i < cnt; i++) {
            put_cstr(&xml, "<Object><Key>");
            xml_escape(&xml, keys[base + i]);
            put_cstr(&xml, "</Key></Object>");
        }
        put_cstr(&xml, "</Delete>");
        char md5[32];
        if (xml.oom) err = rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory");
        else if (md5_b64(xml.data, xml.len, md5)) err = rmq_obj_fail(st, RMQ_ERR_IO, 0, "md5 failed");
        if (!err) {
            s3_call_t c = {.method = "POST",
                           .key = NULL,
                           .q = {{"delete", ""}},
                           .nq = 1,
                           .content_type = "application/xml",
                           .content_md5 = md5,
                           .body = xml.data,
                           .body_len = xml.len};
            s3_resp_t r;
            err = s3_do(s, &c, &r, st);
            if (!err) {
                size_t nerr = 0;
                char first[256];
                if (rmq_s3_parse_delete_result(r.body.data, r.body.len, &nerr, first, sizeof first))
                    err = rmq_obj_fail(st, RMQ_ERR_IO, (int)r.status, "delete: malformed DeleteResult");
                else if (nerr)
                    err = rmq_obj_fail(st, strstr(first, "InternalError") || strstr(first, "SlowDown") ? RMQ_ERR_AGAIN
                                                                                                       : RMQ_ERR_IO,
                                       (int)r.status, "delete: %zu keys failed, first %s", nerr, first);
            }
            rmq_buf_free(&r.body);
        }
        rmq_buf_free(&xml);
    }
    return err;
}

static void s3_close(rmq_obj_store_t *os) {
    s3_store_t *s = S(os);
    for (int i = 0; i < s->npool; i++) curl_easy_cleanup(s->pool[i]);
    pthread_mutex_destroy(&s->mu);
    free(s->scheme);
    free(s->authority);
    free(s->bucket);
    free(s->region);
    if (s->secret_key) memset(s->secret_key, 0, strlen(s->secret_key));
    free(s->access_key);
    free(s->secret_key);
    free(s->token);
    free(s);
}

static const rmq_obj_ops_t S3_OPS = {
    .put = s3_put,
    .get = s3_get,
    .head = s3_head,
    .list = s3_list,
    .del = s3_del,
    .close = s3_close,
};

static const char *nz(const char *a) { return a && *a ? a : NULL; }

rmq_err_t rmq_s3_open(const rmq_obj_config_t *cfg, rmq_obj_store_t **out, rmq_obj_status_t *st) {
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) return rmq_obj_fail(st, RMQ_ERR_IO, 0, "curl_global_init failed");
    bool gcs = cfg->type == RMQ_OBJ_GCS;
    const char *bucket = nz(cfg->bucket);
    if (!bucket) return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "object_storage.bucket is required for %s", gcs ? "gcs" : "s3");
    for (const char *p = bucket; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == '_'))
            return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "invalid bucket name \"%s\"", bucket);
    const char *region = nz(cfg->region) ? cfg->region : gcs ? "auto" : "us-east-1";
    const char *ak = nz(cfg->access_key) ? cfg->access_key : nz(getenv("AWS_ACCESS_KEY_ID"));
    const char *sk = nz(cfg->secret_key) ? cfg->secret_key : nz(getenv("AWS_SECRET_ACCESS_KEY"));
    const char *tok = nz(cfg->session_token) ? cfg->session_token : nz(getenv("AWS_SESSION_TOKEN"));
    if (!ak || !sk)
        return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0,
                            "no credentials: set access_key/secret_key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");

    char defep[256];
    const char *ep = nz(cfg->endpoint);
    if (!ep) {
        if (gcs) snprintf(defep, sizeof defep, "https://storage.googleapis.com");
        else snprintf(defep, sizeof defep, "https://s3.%s.amazonaws.com", region);
        ep = defep;
    }
    const char *sep = strstr(ep, "://");
    if (!sep) return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "endpoint \"%s\" needs http:// or https://", ep);
    size_t schl = (size_t)(sep - ep);
    bool https;
    if (schl == 5 && strncasecmp(ep, "https", 5) == 0) https = true;
    else if (schl == 4 && strncasecmp(ep, "http", 4) == 0) https = false;
    else return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "endpoint \"%s\": scheme must be http or https", ep);
    const char *auth = sep + 3;
    size_t al = strcspn(auth, "/?#");
    if (al == 0) return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "endpoint \"%s\" has no host", ep);
    if (auth[al] && strcmp(auth + al, "/") != 0)
        return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "endpoint \"%s\" must not have a path", ep);
    for (size_t i = 0; i < al; i++)
        if (!(isalnum((unsigned char)auth[i]) || strchr("-.:[]_", auth[i])))
            return rmq_obj_fail(st, RMQ_ERR_CONFIG, 0, "endpoint \"%s\": bad host", ep);

    s3_store_t *s = calloc(1, sizeof(*s));
    if (!s) return rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory");
    pthread_mutex_init(&s->mu, NULL);
    s->gcs = gcs;
    s->https = https;
    s->scheme = strdup(https ? "https" : "http");
    s->authority = strndup(auth, al);
    for (char *p = s->authority; p && *p; p++) *p = (char)tolower((unsigned char)*p);
    s->bucket = strdup(bucket);
    s->region = strdup(region);
    s->path_style = cfg->path_style;
    s->access_key = strdup(ak);
    s->secret_key = strdup(sk);
    s->token = tok ? strdup(tok) : NULL;
    if (!s->scheme || !s->authority || !s->bucket || !s->region || !s->access_key || !s->secret_key ||
        (tok && !s->token)) {
        s3_close(&s->base);
        return rmq_obj_fail(st, RMQ_ERR_NOMEM, 0, "no memory");
    }
    s->multipart_threshold = cfg->multipart_threshold ? cfg->multipart_threshold : RMQ_OBJ_DEFAULT_MULTIPART_THRESHOLD;
    s->part_size = cfg->part_size ? cfg->part_size : RMQ_OBJ_DEFAULT_PART_SIZE;
    if (!cfg->allow_small_parts && s->part_size < RMQ_OBJ_MIN_PART_SIZE) s->part_size = RMQ_OBJ_MIN_PART_SIZE;
    if (s->part_size > (5ull << 30)) s->part_size = 5ull << 30;
    s->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 5000;
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 0;
    s->low_speed_limit = cfg->low_speed_limit > 0 ? cfg->low_speed_limit : 1024;
    s->low_speed_time_s = cfg->low_speed_time_s > 0 ? cfg->low_speed_time_s : 30;
    s->page_size = cfg->list_page_size ? cfg->list_page_size : RMQ_OBJ_DEFAULT_LIST_PAGE;
    s->base.ops = &S3_OPS;
    s->base.name = gcs ? "gcs" : "s3";
    s->base.impl = s;
    *out = &s->base;
    return 0;
}
