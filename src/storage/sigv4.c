/* sigv4.c - AWS Signature Version 4 signing (see sigv4.h). Owns the
 * canonical request / string to sign / signing key construction; SHA-256
 * and HMAC-SHA256 come from OpenSSL libcrypto (EVP_Digest, HMAC). Used by
 * objstore_s3.c for every S3/GCS request. Pure functions, thread-safe. */
#include "storage/sigv4.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char HEX_LOWER[] = "0123456789abcdef";
static const char HEX_UPPER[] = "0123456789ABCDEF";

static void hex_encode(const uint8_t *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX_LOWER[in[i] >> 4];
        out[2 * i + 1] = HEX_LOWER[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void put_str(rmq_buf_t *b, const char *s) { rmq_buf_put(b, s, strlen(s)); }

/* NUL-terminate without counting the NUL in len. */
static void buf_cstr(rmq_buf_t *b) {
    if (rmq_buf_reserve(b, 1) == 0) b->data[b->len] = '\0';
}

rmq_err_t rmq_sigv4_sha256_hex(const void *data, size_t len, char hex[65]) {
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) return RMQ_ERR_IO;
    hex_encode(md, 32, hex);
    return 0;
}

static rmq_err_t hmac256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32]) {
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) || olen != 32) return RMQ_ERR_IO;
    return 0;
}

void rmq_sigv4_amz_date(int64_t unix_secs, char buf[17]) {
    time_t t = (time_t)unix_secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

void rmq_sigv4_uri_encode(rmq_buf_t *out, const char *s, size_t n, bool keep_slash) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            rmq_buf_put_u8(out, c);
        } else {
            char e[3] = {'%', HEX_UPPER[c >> 4], HEX_UPPER[c & 15]};
            rmq_buf_put(out, e, 3);
        }
    }
}

/* Remove "." / ".." / empty segments (RFC 3986 dot-segment removal plus
 * slash collapsing, as AWS's normalizing services expect). */
static void encode_normalized(rmq_buf_t *out, const char *path) {
    size_t n = strlen(path);
    /* segment boundaries kept on a small stack of (start, len) */
    size_t cap = n / 2 + 2, depth = 0;
    size_t *st = malloc(cap * 2 * sizeof(size_t));
    if (!st) {
        out->oom = true;
        return;
    }
    bool trailing = n > 0 && path[n - 1] == '/';
    size_t i = 0;
    while (i < n) {
        while (i < n && path[i] == '/') i++;
        size_t s = i;
        while (i < n && path[i] != '/') i++;
        size_t l = i - s;
        if (l == 0) continue;
        if (l == 1 && path[s] == '.') {
            if (i >= n) trailing = true;
            continue;
        }
        if (l == 2 && path[s] == '.' && path[s + 1] == '.') {
            if (depth) depth--;
            if (i >= n) trailing = true;
            continue;
        }
        st[2 * depth] = s;
        st[2 * depth + 1] = l;
        depth++;
    }
    rmq_buf_put_u8(out, '/');
    for (size_t d = 0; d < depth; d++) {
        if (d) rmq_buf_put_u8(out, '/');
        rmq_sigv4_uri_encode(out, path + st[2 * d], st[2 * d + 1], false);
    }
    if (trailing && depth) rmq_buf_put_u8(out, '/');
    free(st);
}

void rmq_sigv4_encode_path(rmq_buf_t *out, const char *path, bool normalize) {
    if (!path || !*path) {
        rmq_buf_put_u8(out, '/');
        return;
    }
    if (normalize) {
        encode_normalized(out, path);
        return;
    }
    rmq_sigv4_uri_encode(out, path, strlen(path), true);
}

typedef struct enc_param {
    char *k; /* encoded, NUL-terminated, owned */
    char *v;
} enc_param_t;

static char *encode_dup(const char *s) {
    rmq_buf_t b;
    rmq_buf_init(&b);
    if (s) rmq_sigv4_uri_encode(&b, s, strlen(s), false);
    buf_cstr(&b);
    if (b.oom || !b.data) {
        rmq_buf_free(&b);
        return NULL;
    }
    size_t len;
    return (char *)rmq_buf_detach(&b, &len);
}

static int cmp_param(const void *a, const void *b) {
    const enc_param_t *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

rmq_err_t rmq_sigv4_canonical_query(rmq_buf_t *out, const rmq_sigv4_param_t *q, size_t n) {
    if (n == 0) return 0;
    enc_param_t *ps = calloc(n, sizeof(*ps));
    if (!ps) return RMQ_ERR_NOMEM;
    rmq_err_t err = 0;
    for (size_t i = 0; i < n; i++) {
        ps[i].k = encode_dup(q[i].key);
        ps[i].v = encode_dup(q[i].value);
        if (!ps[i].k || !ps[i].v) err = RMQ_ERR_NOMEM;
    }
    if (!err) {
        qsort(ps, n, sizeof(*ps), cmp_param);
        for (size_t i = 0; i < n; i++) {
            if (i) rmq_buf_put_u8(out, '&');
            put_str(out, ps[i].k);
            rmq_buf_put_u8(out, '=');
            put_str(out, ps[i].v);
        }
        if (out->oom) err = RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        free(ps[i].k);
        free(ps[i].v);
    }
    free(ps);
    return err;
}

typedef struct canon_hdr {
    char *name;  /* lower-case, owned */
    char *value; /* trimmed, collapsed, owned */
    size_t order;
} canon_hdr_t;

static int cmp_hdr(const void *a, const void *b) {
    const canon_hdr_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool hdr_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static char *canon_value(const char *v) {
    size_t n = v ? strlen(v) : 0;
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t j = 0;
    bool pending_space = false;
    for (size_t i = 0; i < n; i++) {
        if (hdr_ws(v[i])) {
            pending_space = j > 0;
            continue;
        }
        if (pending_space) o[j++] = ' ';
        pending_space = false;
        o[j++] = v[i];
    }
    o[j] = '\0';
    return o;
}

static bool valid_header_name(const char *s) {
    if (!s || !*s) return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 32 || c >= 127 || c == ':') return false;
    }
    return true;
}

static char *lower_dup(const char *s) {
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) o[i] = (char)tolower((unsigned char)s[i]);
    o[n] = '\0';
    return o;
}

void rmq_sigv4_out_init(rmq_sigv4_out_t *o) {
    memset(o, 0, sizeof(*o));
    rmq_buf_init(&o->canonical_request);
    rmq_buf_init(&o->string_to_sign);
    rmq_buf_init(&o->signed_headers);
    rmq_buf_init(&o->authorization);
}

void rmq_sigv4_out_free(rmq_sigv4_out_t *o) {
    rmq_buf_free(&o->canonical_request);
    rmq_buf_free(&o->string_to_sign);
    rmq_buf_free(&o->signed_headers);
    rmq_buf_free(&o->authorization);
}

static bool has_header(const rmq_sigv4_request_t *req, const char *lname) {
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, lname) == 0) return true;
    return false;
}

rmq_err_t rmq_sigv4_sign(const rmq_sigv4_creds_t *creds, const rmq_sigv4_params_t *params,
                         const rmq_sigv4_request_t *req, rmq_sigv4_out_t *out) {
    if (!creds || !creds->access_key || !*creds->access_key || !creds->secret_key || !params || !params->region ||
        !params->service || !params->amz_date || strlen(params->amz_date) != 16 || !req || !req->method)
        return RMQ_ERR_INVALID_ARG;
    if (!has_header(req, "host")) return RMQ_ERR_INVALID_ARG;
    for (size_t i = 0; i < req->n_headers; i++)
        if (!valid_header_name(req->headers[i].name)) return RMQ_ERR_INVALID_ARG;

    rmq_buf_reset(&out->canonical_request);
    rmq_buf_reset(&out->string_to_sign);
    rmq_buf_reset(&out->signed_headers);
    rmq_buf_reset(&out->authorization);

    /* payload hash */
    if (req->payload_hash) {
        size_t pl = strlen(req->payload_hash);
        if (pl >= sizeof(out->payload_hash)) return RMQ_ERR_INVALID_ARG;
        memcpy(out->payload_hash, req->payload_hash, pl + 1);
    } else if (rmq_sigv4_sha256_hex(req->body, req->body_len, out->payload_hash)) {
        return RMQ_ERR_IO;
    }

    const char *token = creds->session_token && *creds->session_token ? creds->session_token : NULL;
    /* all headers: the caller's plus the ones we add */
    size_t nh = req->n_headers + 3;
    canon_hdr_t *hs = calloc(nh, sizeof(*hs));
    if (!hs) return RMQ_ERR_NOMEM;
    size_t k = 0;
    rmq_err_t err = 0;
    for (size_t i = 0; i < req->n_headers; i++, k++) {
        hs[k].name = lower_dup(req->headers[i].name);
        hs[k].value = canon_value(req->headers[i].value);
        hs[k].order = k;
        if (!hs[k].name || !hs[k].value) err = RMQ_ERR_NOMEM;
    }
    struct {
        const char *name, *value;
        bool want;
    } extra[3] = {
        {"x-amz-date", params->amz_date, true},
        {"x-amz-security-token", token, token != NULL},
        {"x-amz-content-sha256", out->payload_hash, params->add_content_sha256},
    };
    for (size_t e = 0; e < 3 && !err; e++) {
        if (!extra[e].want || has_header(req, extra[e].name)) continue;
        hs[k].name = lower_dup(extra[e].name);
        hs[k].value = canon_value(extra[e].value);
        hs[k].order = k;
        if (!hs[k].name || !hs[k].value) err = RMQ_ERR_NOMEM;
        k++;
    }
    nh = k;

    char date8[9];
    memcpy(date8, params->amz_date, 8);
    date8[8] = '\0';

    if (!err) {
        qsort(hs, nh, sizeof(*hs), cmp_hdr);
        rmq_buf_t *cr = &out->canonical_request;
        put_str(cr, req->method);
        rmq_buf_put_u8(cr, '\n');
        rmq_sigv4_encode_path(cr, req->path, params->normalize_path);
        rmq_buf_put_u8(cr, '\n');
        err = rmq_sigv4_canonical_query(cr, req->query, req->n_query);
        rmq_buf_put_u8(cr, '\n');
        for (size_t i = 0; i < nh; i++) {
            bool first = i == 0 || strcmp(hs[i].name, hs[i - 1].name) != 0;
            if (first) {
                if (i) rmq_buf_put_u8(cr, '\n');
                put_str(cr, hs[i].name);
                rmq_buf_put_u8(cr, ':');
                if (out->signed_headers.len) rmq_buf_put_u8(&out->signed_headers, ';');
                put_str(&out->signed_headers, hs[i].name);
            } else {
                rmq_buf_put_u8(cr, ',');
            }
            put_str(cr, hs[i].value);
        }
        rmq_buf_put(cr, "\n\n", 2);
        rmq_buf_put(cr, out->signed_headers.data, out->signed_headers.len);
        rmq_buf_put_u8(cr, '\n');
        put_str(cr, out->payload_hash);
        buf_cstr(cr);
        buf_cstr(&out->signed_headers);
        if (cr->oom || out->signed_headers.oom) err = RMQ_ERR_NOMEM;
    }
    for (size_t i = 0; i < nh; i++) {
        free(hs[i].name);
        free(hs[i].value);
    }
    free(hs);
    if (err) return err;

    /* string to sign */
    char creq_hash[65];
    if (rmq_sigv4_sha256_hex(out->canonical_request.data, out->canonical_request.len, creq_hash)) return RMQ_ERR_IO;
    rmq_buf_t *sts = &out->string_to_sign;
    put_str(sts, "AWS4-HMAC-SHA256\n");
    put_str(sts, params->amz_date);
    rmq_buf_put_u8(sts, '\n');
    rmq_buf_t scope;
    rmq_buf_init(&scope);
    put_str(&scope, date8);
    rmq_buf_put_u8(&scope, '/');
    put_str(&scope, params->region);
    rmq_buf_put_u8(&scope, '/');
    put_str(&scope, params->service);
    put_str(&scope, "/aws4_request");
    buf_cstr(&scope);
    rmq_buf_put(sts, scope.data, scope.len);
    rmq_buf_put_u8(sts, '\n');
    put_str(sts, creq_hash);
    buf_cstr(sts);
    if (sts->oom || scope.oom) {
        rmq_buf_free(&scope);
        return RMQ_ERR_NOMEM;
    }

    /* signing key: HMAC chain over date, region, service, "aws4_request" */
    size_t sl = strlen(creds->secret_key);
    char *k0 = malloc(sl + 5);
    if (!k0) {
        rmq_buf_free(&scope);
        return RMQ_ERR_NOMEM;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, creds->secret_key, sl + 1);
    uint8_t kd[32], kr[32], ks[32], kk[32], sig[32];
    if (hmac256(k0, sl + 4, date8, 8, kd) || hmac256(kd, 32, params->region, strlen(params->region), kr) ||
        hmac256(kr, 32, params->service, strlen(params->service), ks) || hmac256(ks, 32, "aws4_request", 12, kk) ||
        hmac256(kk, 32, sts->data, sts->len, sig))
        err = RMQ_ERR_IO;
    memset(k0, 0, sl + 4);
    free(k0);
    memset(kd, 0, sizeof kd);
    memset(kr, 0, sizeof kr);
    memset(ks, 0, sizeof ks);
    memset(kk, 0, sizeof kk);
    if (err) {
        rmq_buf_free(&scope);
        return err;
    }
    hex_encode(sig, 32, out->signature);

    rmq_buf_t *az = &out->authorization;
    put_str(az, "AWS4-HMAC-SHA256 Credential=");
    put_str(az, creds->access_key);
    rmq_buf_put_u8(az, '/');
    rmq_buf_put(az, scope.data, scope.len);
    put_str(az, ", SignedHeaders=");
    rmq_buf_put(az, out->signed_headers.data, out->signed_headers.len);
    put_str(az, ", Signature=");
    put_str(az, out->signature);
    buf_cstr(az);
    rmq_buf_free(&scope);
    return az->oom ? RMQ_ERR_NOMEM : 0;
}
