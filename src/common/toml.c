/* toml.c - TOML 1.0.0 parser, see toml.h.
 *
 * A hand-written recursive-descent parser over the raw bytes. The input is
 * checked for well-formed UTF-8 first; after that the scanner works on bytes
 * and only bare keys, numbers, booleans and date/times are ASCII-restricted.
 * All nodes, keys and strings are allocated from one arena owned by the
 * document, so error paths never free anything piecemeal.
 *
 * Table-definition rules (the subtle part of TOML) are tracked per table:
 *   - explicit:  defined by a [header] (or the element of a [[header]])
 *   - implicit:  created as the parent of a header ([a.b.c] creates a, a.b);
 *                may be defined explicitly once later
 *   - dotted:    created by a dotted key (a.b = 1 creates a); remembers the
 *                section (header) it was created in. Dotted keys may only
 *                extend dotted tables of the same section, and no header may
 *                define a dotted table.
 *   - inline:    an inline table {..} and everything created inside it are
 *                frozen once the closing brace is read.
 * Arrays are either static (a = [..], frozen) or arrays of tables ([[a]]). */
#include "common/toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"

/* ---- tree ------------------------------------------------------------------ */

enum {
    TF_EXPLICIT = 1u << 0,
    TF_INLINE = 1u << 1, /* frozen: inline table, or static array */
    TF_AOT = 1u << 2,    /* array created by [[header]] */
};

typedef struct toml_kv {
    const char *key;
    size_t klen;
    rmq_toml_node_t *val;
} toml_kv_t;

struct rmq_toml_node {
    uint8_t type;
    uint8_t flags;
    uint32_t line, col;
    uint32_t dotted_section; /* tables created by dotted keys: section id, else 0 */
    union {
        struct {
            char *s;
            size_t len;
        } str;
        int64_t i;
        double f;
        bool b;
        rmq_toml_datetime_t dt;
        struct {
            toml_kv_t *items;
            size_t n, cap;
            uint32_t *hidx; /* open-addressing index of items (1-based), or NULL */
            size_t hcap;
        } tab;
        struct {
            rmq_toml_node_t **items;
            size_t n, cap;
        } arr;
    } u;
};

struct rmq_toml {
    rmq_arena_t arena;
    rmq_toml_node_t *root;
};

/* ---- parser state ------------------------------------------------------------- */

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    uint32_t line;
    size_t line_start;
    /* column cache: col of cache_pos on the current line */
    size_t cache_pos;
    uint32_t cache_col;
    int depth;
    uint32_t section;
    rmq_toml_t *doc;
    rmq_err_t err;
    char *errbuf;
    size_t errlen;
    /* scratch buffer for string decoding (malloc'd, freed at the end) */
    char *sbuf;
    size_t slen, scap;
} P;

static uint32_t col_at(P *p, size_t pos) {
    if (pos < p->line_start) pos = p->line_start;
    if (p->cache_pos < p->line_start || p->cache_pos > pos) {
        p->cache_pos = p->line_start;
        p->cache_col = 1;
    }
    uint32_t col = p->cache_col;
    for (size_t i = p->cache_pos; i < pos && i < p->len; i++)
        if ((p->s[i] & 0xC0) != 0x80) col++;
    p->cache_pos = pos;
    p->cache_col = col;
    return col;
}

__attribute__((format(printf, 3, 4))) static bool fail_at(P *p, size_t pos, const char *fmt, ...) {
    if (p->err != RMQ_NONE) return false; /* keep the first error */
    p->err = RMQ_ERR_PARSE;
    if (p->errbuf && p->errlen) {
        int n = snprintf(p->errbuf, p->errlen, "line %u, column %u: ", (unsigned)p->line, (unsigned)col_at(p, pos));
        if (n >= 0 && (size_t)n < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->errbuf + n, p->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return false;
}
#define FAIL(p, ...) fail_at((p), (p)->pos, __VA_ARGS__)

static bool oom(P *p) {
    if (p->err == RMQ_NONE) {
        p->err = RMQ_ERR_NOMEM;
        if (p->errbuf && p->errlen)
            snprintf(p->errbuf, p->errlen, "line %u, column %u: out of memory", (unsigned)p->line,
                     (unsigned)col_at(p, p->pos));
    }
    return false;
}

static inline int peek(P *p) { return p->pos < p->len ? p->s[p->pos] : -1; }
static inline int peek_at(P *p, size_t off) { return p->pos + off < p->len ? p->s[p->pos + off] : -1; }
static inline bool eof(P *p) { return p->pos >= p->len; }

/* Consume a newline (LF or CRLF) at pos; returns false if there is none. */
static bool eat_newline(P *p) {
    if (peek(p) == '\n') {
        p->pos++;
    } else if (peek(p) == '\r' && peek_at(p, 1) == '\n') {
        p->pos += 2;
    } else {
        return false;
    }
    p->line++;
    p->line_start = p->pos;
    return true;
}

static inline bool is_newline_start(P *p) {
    return peek(p) == '\n' || (peek(p) == '\r' && peek_at(p, 1) == '\n');
}

static void skip_ws(P *p) {
    while (peek(p) == ' ' || peek(p) == '\t') p->pos++;
}

/* A control character that may not appear literally in comments/strings. */
static inline bool is_bad_ctrl(int c) { return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F; }

static bool skip_comment(P *p) {
    if (peek(p) != '#') return true;
    p->pos++;
    while (!eof(p) && peek(p) != '\n') {
        int c = peek(p);
        if (c == '\r' && peek_at(p, 1) == '\n') break;
        if (is_bad_ctrl(c)) return FAIL(p, "control character 0x%02x not allowed in a comment", c);
        p->pos++;
    }
    return true;
}

/* whitespace, comments and newlines (inside arrays) */
static bool skip_ws_nl_comments(P *p) {
    for (;;) {
        skip_ws(p);
        if (peek(p) == '#') {
            if (!skip_comment(p)) return false;
        }
        if (!eat_newline(p)) return true;
    }
}

/* ---- allocation ---------------------------------------------------------------- */

static rmq_toml_node_t *new_node(P *p, int type, size_t pos) {
    rmq_toml_node_t *n = rmq_arena_alloc(&p->doc->arena, sizeof(*n));
    if (!n) {
        oom(p);
        return NULL;
    }
    n->type = (uint8_t)type;
    n->line = p->line;
    n->col = col_at(p, pos);
    return n;
}

static uint32_t key_hash(const char *k, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 16777619u;
    }
    return h;
}

#define TAB_HASH_MIN 16

static bool tab_reindex(P *p, rmq_toml_node_t *t, size_t hcap) {
    uint32_t *h = rmq_arena_alloc(&p->doc->arena, hcap * sizeof(uint32_t));
    if (!h) return oom(p);
    for (size_t i = 0; i < t->u.tab.n; i++) {
        size_t j = key_hash(t->u.tab.items[i].key, t->u.tab.items[i].klen) & (hcap - 1);
        while (h[j]) j = (j + 1) & (hcap - 1);
        h[j] = (uint32_t)(i + 1);
    }
    t->u.tab.hidx = h;
    t->u.tab.hcap = hcap;
    return true;
}

static rmq_toml_node_t *tab_find(const rmq_toml_node_t *t, const char *k, size_t klen) {
    if (t->u.tab.hidx) {
        size_t mask = t->u.tab.hcap - 1;
        size_t j = key_hash(k, klen) & mask;
        while (t->u.tab.hidx[j]) {
            const toml_kv_t *kv = &t->u.tab.items[t->u.tab.hidx[j] - 1];
            if (kv->klen == klen && memcmp(kv->key, k, klen) == 0) return kv->val;
            j = (j + 1) & mask;
        }
        return NULL;
    }
    for (size_t i = 0; i < t->u.tab.n; i++) {
        const toml_kv_t *kv = &t->u.tab.items[i];
        if (kv->klen == klen && memcmp(kv->key, k, klen) == 0) return kv->val;
    }
    return NULL;
}

/* Append key -> val to table t (the caller checked the key is absent).
 * The key bytes are copied into the arena. */
static bool tab_add(P *p, rmq_toml_node_t *t, const char *k, size_t klen, rmq_toml_node_t *val) {
    if (t->u.tab.n == t->u.tab.cap) {
        size_t ncap = t->u.tab.cap ? t->u.tab.cap * 2 : 4;
        if (ncap > UINT32_MAX / 2) return oom(p);
        toml_kv_t *ni = rmq_arena_alloc(&p->doc->arena, ncap * sizeof(*ni));
        if (!ni) return oom(p);
        if (t->u.tab.n) memcpy(ni, t->u.tab.items, t->u.tab.n * sizeof(*ni));
        t->u.tab.items = ni;
        t->u.tab.cap = ncap;
    }
    char *kc = rmq_arena_strndup(&p->doc->arena, k, klen);
    if (!kc) return oom(p);
    toml_kv_t *kv = &t->u.tab.items[t->u.tab.n++];
    kv->key = kc;
    kv->klen = klen;
    kv->val = val;
    if (t->u.tab.n >= TAB_HASH_MIN) {
        if (!t->u.tab.hidx || t->u.tab.n * 2 > t->u.tab.hcap) {
            size_t hcap = 32;
            while (hcap < t->u.tab.n * 4) hcap *= 2;
            return tab_reindex(p, t, hcap);
        }
        size_t mask = t->u.tab.hcap - 1;
        size_t j = key_hash(kc, klen) & mask;
        while (t->u.tab.hidx[j]) j = (j + 1) & mask;
        t->u.tab.hidx[j] = (uint32_t)t->u.tab.n;
    }
    return true;
}

static bool arr_add(P *p, rmq_toml_node_t *a, rmq_toml_node_t *v) {
    if (a->u.arr.n == a->u.arr.cap) {
        size_t ncap = a->u.arr.cap ? a->u.arr.cap * 2 : 4;
        rmq_toml_node_t **ni = rmq_arena_alloc(&p->doc->arena, ncap * sizeof(*ni));
        if (!ni) return oom(p);
        if (a->u.arr.n) memcpy(ni, a->u.arr.items, a->u.arr.n * sizeof(*ni));
        a->u.arr.items = ni;
        a->u.arr.cap = ncap;
    }
    a->u.arr.items[a->u.arr.n++] = v;
    return true;
}

/* ---- scratch string buffer --------------------------------------------------------- */

static bool sb_put(P *p, const void *d, size_t n) {
    if (p->slen + n > p->scap) {
        size_t ncap = p->scap ? p->scap : 64;
        while (ncap < p->slen + n) ncap *= 2;
        char *nb = realloc(p->sbuf, ncap);
        if (!nb) return oom(p);
        p->sbuf = nb;
        p->scap = ncap;
    }
    memcpy(p->sbuf + p->slen, d, n);
    p->slen += n;
    return true;
}

static bool sb_putc(P *p, char c) { return sb_put(p, &c, 1); }

static bool sb_put_utf8(P *p, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return sb_put(p, b, n);
}

/* ---- UTF-8 validation ----------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 if ill-formed
 * (overlong forms, surrogates and code points above U+10FFFF are rejected). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        cp = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        cp = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < need) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return need;
}

static bool check_utf8(P *p) {
    size_t i = 0;
    while (i < p->len) {
        if (p->s[i] < 0x80) {
            if (p->s[i] == '\n') {
                p->line++;
                p->line_start = i + 1;
            }
            i++;
            continue;
        }
        size_t k = utf8_seq(p->s + i, p->len - i);
        if (!k) return fail_at(p, i, "invalid UTF-8 byte 0x%02x", p->s[i]);
        i += k;
    }
    p->line = 1;
    p->line_start = 0;
    p->cache_pos = 0;
    p->cache_col = 1;
    return true;
}

/* ---- strings ----------------------------------------------------------------------------- */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Escape sequence after a backslash (p->pos is on the char after '\'). */
static bool parse_escape(P *p, size_t bs_pos) {
    int c = peek(p);
    switch (c) {
    case 'b': p->pos++; return sb_putc(p, '\b');
    case 't': p->pos++; return sb_putc(p, '\t');
    case 'n': p->pos++; return sb_putc(p, '\n');
    case 'f': p->pos++; return sb_putc(p, '\f');
    case 'r': p->pos++; return sb_putc(p, '\r');
    case '"': p->pos++; return sb_putc(p, '"');
    case '\\': p->pos++; return sb_putc(p, '\\');
    case 'u':
    case 'U': {
        int nd = c == 'u' ? 4 : 8;
        p->pos++;
        uint32_t cp = 0;
        for (int i = 0; i < nd; i++) {
            int h = hexval(peek(p));
            if (h < 0) return fail_at(p, bs_pos, "\\%c escape needs %d hex digits", c, nd);
            cp = (cp << 4) | (uint32_t)h;
            p->pos++;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail_at(p, bs_pos, "escape \\%c%0*X is not a Unicode scalar value", c, nd, (unsigned)cp);
        return sb_put_utf8(p, cp);
    }
    default:
        if (c < 0) return fail_at(p, bs_pos, "unterminated escape sequence");
        if (c >= 0x20 && c < 0x7F) return fail_at(p, bs_pos, "invalid escape sequence '\\%c'", c);
        return fail_at(p, bs_pos, "invalid escape sequence");
    }
}

/* Parses any of the four string forms at pos; the decoded bytes end up in
 * p->sbuf[0..p->slen). multiline_ok is false for keys. */
static bool parse_string(P *p, bool multiline_ok) {
    size_t start = p->pos;
    int q = peek(p);
    bool literal = q == '\'';
    p->slen = 0;
    if (peek_at(p, 1) == q && peek_at(p, 2) == q) {
        if (!multiline_ok) return FAIL(p, "multi-line strings cannot be keys");
        uint32_t open_line = p->line;
        p->pos += 3;
        eat_newline(p); /* a newline right after the opening delimiter is trimmed */
        for (;;) {
            int c = peek(p);
            if (c < 0) return FAIL(p, "unterminated multi-line string opened on line %u", (unsigned)open_line);
            if (c == q && peek_at(p, 1) == q && peek_at(p, 2) == q) {
                size_t run = 3;
                while (peek_at(p, run) == q && run < 5) run++;
                for (size_t i = 3; i < run; i++)
                    if (!sb_putc(p, (char)q)) return false;
                p->pos += run;
                return true;
            }
            if (c == '\n' || c == '\r') {
                size_t at = p->pos;
                if (!eat_newline(p)) return FAIL(p, "bare carriage return in string");
                if (!sb_put(p, p->s + at, p->pos - at)) return false;
                continue;
            }
            if (!literal && c == '\\') {
                size_t bs = p->pos;
                p->pos++;
                /* line-ending backslash: \ [ws] newline -> trim ws and newlines */
                size_t save = p->pos;
                skip_ws(p);
                if (is_newline_start(p)) {
                    while (eat_newline(p) || peek(p) == ' ' || peek(p) == '\t') {
                        if (peek(p) == ' ' || peek(p) == '\t') p->pos++;
                    }
                    continue;
                }
                p->pos = save;
                if (!parse_escape(p, bs)) return false;
                continue;
            }
            if (is_bad_ctrl(c)) return FAIL(p, "control character 0x%02x must be escaped in a string", c);
            size_t at = p->pos++;
            while (!eof(p)) {
                int d = peek(p);
                if (d == q || d == '\\' || d == '\n' || d == '\r' || is_bad_ctrl(d)) break;
                p->pos++;
            }
            if (!sb_put(p, p->s + at, p->pos - at)) return false;
        }
    }
    p->pos++;
    for (;;) {
        int c = peek(p);
        if (c < 0 || c == '\n' || (c == '\r' && peek_at(p, 1) == '\n'))
            return fail_at(p, start, "unterminated string");
        if (c == q) {
            p->pos++;
            return true;
        }
        if (!literal && c == '\\') {
            size_t bs = p->pos++;
            if (!parse_escape(p, bs)) return false;
            continue;
        }
        if (is_bad_ctrl(c)) return FAIL(p, "control character 0x%02x must be escaped in a string", c);
        size_t at = p->pos++;
        while (!eof(p)) {
            int d = peek(p);
            if (d == q || d == '\\' || is_bad_ctrl(d)) break;
            p->pos++;
        }
        if (!sb_put(p, p->s + at, p->pos - at)) return false;
    }
}

/* ---- keys ---------------------------------------------------------------------------------- */

#define MAX_KEY_PARTS 64

typedef struct {
    const char *k; /* arena copy */
    size_t klen;
    size_t pos;   /* byte offset of the part (for errors) */
    uint32_t col; /* its column, computed while scanning forward */
} keypart_t;

static inline bool is_bare(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool parse_simple_key(P *p, keypart_t *kp) {
    kp->pos = p->pos;
    kp->col = col_at(p, p->pos);
    int c = peek(p);
    if (c == '"' || c == '\'') {
        if (!parse_string(p, false)) return false;
        char *k = rmq_arena_strndup(&p->doc->arena, p->sbuf ? p->sbuf : "", p->slen);
        if (!k) return oom(p);
        kp->k = k;
        kp->klen = p->slen;
        return true;
    }
    if (!is_bare(c)) {
        if (c < 0) return FAIL(p, "expected a key, found end of input");
        if (c == '\n' || c == '\r') return FAIL(p, "expected a key, found end of line");
        if (c >= 0x20 && c < 0x7F) return FAIL(p, "expected a key, found '%c'", c);
        return FAIL(p, "expected a key, found byte 0x%02x", c);
    }
    size_t at = p->pos;
    while (is_bare(peek(p))) p->pos++;
    char *k = rmq_arena_strndup(&p->doc->arena, (const char *)p->s + at, p->pos - at);
    if (!k) return oom(p);
    kp->k = k;
    kp->klen = p->pos - at;
    return true;
}

static bool parse_key(P *p, keypart_t *parts, int *nparts) {
    int n = 0;
    for (;;) {
        if (n == MAX_KEY_PARTS) return FAIL(p, "dotted key has more than %d parts", MAX_KEY_PARTS);
        if (!parse_simple_key(p, &parts[n])) return false;
        n++;
        skip_ws(p);
        if (peek(p) != '.') break;
        p->pos++;
        skip_ws(p);
    }
    *nparts = n;
    return true;
}

/* ---- numbers and date/times ------------------------------------------------------------------- */

static inline bool is_digit(int c) { return c >= '0' && c <= '9'; }

/* digits with single underscores between digits of the given base */
static bool scan_digits(const unsigned char *s, size_t n, size_t *i, int base, char *out, size_t *olen) {
    size_t start = *i;
    bool prev_digit = false;
    while (*i < n) {
        int c = s[*i];
        int v = hexval(c);
        if (c == '_') {
            if (!prev_digit) return false;
            if (*i + 1 >= n || hexval(s[*i + 1]) < 0 || hexval(s[*i + 1]) >= base) return false;
            prev_digit = false;
            (*i)++;
            continue;
        }
        if (v < 0 || v >= base) break;
        if (out) out[(*olen)++] = (char)c;
        prev_digit = true;
        (*i)++;
    }
    return *i > start && prev_digit;
}

static bool is_num_char(int c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '+' ||
           c == '-';
}

static bool parse_number(P *p, rmq_toml_node_t **out) {
    size_t start = p->pos;
    size_t end = start;
    while (end < p->len && is_num_char(p->s[end])) end++;
    const unsigned char *s = p->s + start;
    size_t n = end - start;
    if (n > 512) return FAIL(p, "number too long");
    size_t i = 0;
    bool neg = false, has_sign = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        has_sign = true;
        i++;
    }
    /* inf / nan */
    if (n - i == 3 && (memcmp(s + i, "inf", 3) == 0 || memcmp(s + i, "nan", 3) == 0)) {
        rmq_toml_node_t *v = new_node(p, RMQ_TOML_FLOAT, start);
        if (!v) return false;
        if (s[i] == 'i') v->u.f = neg ? -INFINITY : INFINITY;
        else v->u.f = neg ? -NAN : NAN;
        p->pos = end;
        *out = v;
        return true;
    }
    /* 0x / 0o / 0b */
    if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'o' || s[i + 1] == 'b')) {
        if (has_sign) return FAIL(p, "a sign is not allowed on hexadecimal, octal or binary integers");
        int base = s[i + 1] == 'x' ? 16 : s[i + 1] == 'o' ? 8 : 2;
        i += 2;
        char digs[520];
        size_t dl = 0;
        if (!scan_digits(s, n, &i, base, digs, &dl) || i != n) return FAIL(p, "invalid base-%d integer", base);
        uint64_t v = 0;
        for (size_t k = 0; k < dl; k++) {
            uint64_t d = (uint64_t)hexval(digs[k]);
            if (v > (UINT64_C(0x7FFFFFFFFFFFFFFF) - d) / (uint64_t)base) return FAIL(p, "integer overflows 64 bits");
            v = v * (uint64_t)base + d;
        }
        rmq_toml_node_t *node = new_node(p, RMQ_TOML_INT, start);
        if (!node) return false;
        node->u.i = (int64_t)v;
        p->pos = end;
        *out = node;
        return true;
    }
    /* decimal integer part */
    char buf[520];
    size_t bl = 0;
    if (neg) buf[bl++] = '-';
    size_t int_start = i;
    if (!scan_digits(s, n, &i, 10, buf, &bl)) return FAIL(p, "invalid number");
    if (s[int_start] == '0' && i - int_start > 1) return FAIL(p, "leading zeros are not allowed");
    bool is_float = false;
    if (i < n && s[i] == '.') {
        is_float = true;
        i++;
        buf[bl++] = '.';
        if (!scan_digits(s, n, &i, 10, buf, &bl)) return FAIL(p, "a decimal point must be followed by digits");
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        is_float = true;
        i++;
        buf[bl++] = 'e';
        if (i < n && (s[i] == '+' || s[i] == '-')) buf[bl++] = (char)s[i++];
        if (!scan_digits(s, n, &i, 10, buf, &bl)) return FAIL(p, "an exponent must be followed by digits");
    }
    if (i != n) return FAIL(p, "invalid number");
    buf[bl] = 0;
    rmq_toml_node_t *node = new_node(p, is_float ? RMQ_TOML_FLOAT : RMQ_TOML_INT, start);
    if (!node) return false;
    errno = 0;
    if (is_float) {
        double d = strtod(buf, NULL);
        if (errno == ERANGE && isinf(d)) return FAIL(p, "float out of range");
        node->u.f = d;
    } else {
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE) return FAIL(p, "integer overflows 64 bits");
        node->u.i = v;
    }
    p->pos = end;
    *out = node;
    return true;
}

static bool dig2(P *p, size_t at, int *v) {
    if (at + 2 > p->len || !is_digit(p->s[at]) || !is_digit(p->s[at + 1])) return false;
    *v = (p->s[at] - '0') * 10 + (p->s[at + 1] - '0');
    return true;
}

static int days_in_month(int y, int m) {
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return d[m - 1];
}

/* HH:MM:SS[.frac] at p->pos */
static bool parse_time(P *p, rmq_toml_datetime_t *dt) {
    size_t at = p->pos;
    if (!dig2(p, at, &dt->hour) || at + 2 >= p->len || p->s[at + 2] != ':' || !dig2(p, at + 3, &dt->minute))
        return FAIL(p, "invalid time, expected HH:MM:SS");
    if (at + 5 >= p->len || p->s[at + 5] != ':' || !dig2(p, at + 6, &dt->second))
        return FAIL(p, "invalid time, seconds are required (HH:MM:SS)");
    if (dt->hour > 23) return FAIL(p, "hour %d out of range", dt->hour);
    if (dt->minute > 59) return FAIL(p, "minute %d out of range", dt->minute);
    if (dt->second > 60) return FAIL(p, "second %d out of range", dt->second);
    p->pos = at + 8;
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p))) return FAIL(p, "fractional seconds need at least one digit");
        int nd = 0, ns = 0;
        while (is_digit(peek(p))) {
            if (nd < 9) {
                ns = ns * 10 + (peek(p) - '0');
                nd++;
            }
            p->pos++;
        }
        dt->frac_digits = nd;
        for (int k = nd; k < 9; k++) ns *= 10;
        dt->nanosecond = ns;
    }
    return true;
}

static bool parse_datetime(P *p, rmq_toml_node_t **out) {
    size_t start = p->pos;
    rmq_toml_datetime_t dt = {0};
    int type;
    /* local time: HH:MM */
    int probe;
    if (dig2(p, start, &probe) && start + 2 < p->len && p->s[start + 2] == ':') {
        if (!parse_time(p, &dt)) return false;
        type = RMQ_TOML_TIME_LOCAL;
    } else {
        int y1, y2;
        if (!dig2(p, start, &y1) || !dig2(p, start + 2, &y2) || start + 4 >= p->len || p->s[start + 4] != '-' ||
            !dig2(p, start + 5, &dt.month) || start + 7 >= p->len || p->s[start + 7] != '-' ||
            !dig2(p, start + 8, &dt.day))
            return FAIL(p, "invalid date, expected YYYY-MM-DD");
        dt.year = y1 * 100 + y2;
        if (dt.month < 1 || dt.month > 12) return FAIL(p, "month %d out of range", dt.month);
        if (dt.day < 1 || dt.day > days_in_month(dt.year, dt.month))
            return FAIL(p, "day %d out of range for %04d-%02d", dt.day, dt.year, dt.month);
        p->pos = start + 10;
        type = RMQ_TOML_DATE_LOCAL;
        int c = peek(p);
        if (c == 'T' || c == 't' || (c == ' ' && is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) &&
                                     peek_at(p, 3) == ':')) {
            p->pos++;
            if (!parse_time(p, &dt)) return false;
            type = RMQ_TOML_DATETIME_LOCAL;
            c = peek(p);
            if (c == 'Z' || c == 'z') {
                p->pos++;
                type = RMQ_TOML_DATETIME;
            } else if (c == '+' || c == '-') {
                int oh, om;
                size_t at = p->pos + 1;
                if (!dig2(p, at, &oh) || at + 2 >= p->len || p->s[at + 2] != ':' || !dig2(p, at + 3, &om))
                    return FAIL(p, "invalid time offset, expected +HH:MM");
                if (oh > 23 || om > 59) return FAIL(p, "time offset out of range");
                dt.offset_minutes = (c == '-' ? -1 : 1) * (oh * 60 + om);
                p->pos = at + 5;
                type = RMQ_TOML_DATETIME;
            }
        }
    }
    rmq_toml_node_t *v = new_node(p, type, start);
    if (!v) return false;
    v->u.dt = dt;
    *out = v;
    return true;
}

/* ---- values -------------------------------------------------------------------------------------- */

static bool parse_value(P *p, rmq_toml_node_t **out);
static bool parse_keyval(P *p, rmq_toml_node_t *table);

static void freeze(rmq_toml_node_t *n, int depth) {
    if (depth > RMQ_TOML_MAX_DEPTH + 2) return;
    if (n->type == RMQ_TOML_TABLE) {
        n->flags |= TF_INLINE;
        for (size_t i = 0; i < n->u.tab.n; i++) freeze(n->u.tab.items[i].val, depth + 1);
    } else if (n->type == RMQ_TOML_ARRAY) {
        n->flags |= TF_INLINE;
        for (size_t i = 0; i < n->u.arr.n; i++) freeze(n->u.arr.items[i], depth + 1);
    }
}

static bool parse_array(P *p, rmq_toml_node_t **out) {
    rmq_toml_node_t *a = new_node(p, RMQ_TOML_ARRAY, p->pos);
    if (!a) return false;
    a->flags = TF_INLINE;
    p->pos++; /* [ */
    for (;;) {
        if (!skip_ws_nl_comments(p)) return false;
        if (peek(p) == ']') {
            p->pos++;
            break;
        }
        rmq_toml_node_t *v;
        if (!parse_value(p, &v)) return false;
        if (!arr_add(p, a, v)) return false;
        if (!skip_ws_nl_comments(p)) return false;
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']') {
            p->pos++;
            break;
        }
        if (eof(p)) return FAIL(p, "unterminated array, expected ']'");
        return FAIL(p, "expected ',' or ']' in array");
    }
    *out = a;
    return true;
}

static bool parse_inline_table(P *p, rmq_toml_node_t **out) {
    rmq_toml_node_t *t = new_node(p, RMQ_TOML_TABLE, p->pos);
    if (!t) return false;
    p->pos++; /* { */
    skip_ws(p);
    if (is_newline_start(p)) return FAIL(p, "newlines are not allowed in an inline table");
    if (peek(p) == '}') {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            if (is_newline_start(p)) return FAIL(p, "newlines are not allowed in an inline table");
            if (!parse_keyval(p, t)) return false;
            skip_ws(p);
            if (peek(p) == ',') {
                p->pos++;
                skip_ws(p);
                if (peek(p) == '}') return FAIL(p, "trailing comma not allowed in an inline table");
                continue;
            }
            if (peek(p) == '}') {
                p->pos++;
                break;
            }
            if (eof(p)) return FAIL(p, "unterminated inline table, expected '}'");
            if (is_newline_start(p) || peek(p) == '\r')
                return FAIL(p, "newlines are not allowed in an inline table");
            return FAIL(p, "expected ',' or '}' in inline table");
        }
    }
    freeze(t, 0);
    *out = t;
    return true;
}

static bool parse_value(P *p, rmq_toml_node_t **out) {
    int c = peek(p);
    size_t start = p->pos;
    switch (c) {
    case '"':
    case '\'': {
        uint32_t line0 = p->line, col0 = col_at(p, start);
        if (!parse_string(p, true)) return false;
        rmq_toml_node_t *v = new_node(p, RMQ_TOML_STRING, start);
        if (!v) return false;
        v->line = line0; /* a multi-line string may have moved the line counter */
        v->col = col0;
        char *s = rmq_arena_strndup(&p->doc->arena, p->sbuf ? p->sbuf : "", p->slen);
        if (!s) return oom(p);
        v->u.str.s = s;
        v->u.str.len = p->slen;
        *out = v;
        return true;
    }
    case 't':
    case 'f': {
        bool val = c == 't';
        size_t n = val ? 4 : 5;
        if (p->len - p->pos < n || memcmp(p->s + p->pos, val ? "true" : "false", n) != 0 ||
            (p->pos + n < p->len && is_bare(p->s[p->pos + n])))
            return FAIL(p, "invalid value (booleans are lowercase 'true' or 'false')");
        rmq_toml_node_t *v = new_node(p, RMQ_TOML_BOOL, start);
        if (!v) return false;
        v->u.b = val;
        p->pos += n;
        *out = v;
        return true;
    }
    case '[':
    case '{': {
        if (p->depth >= RMQ_TOML_MAX_DEPTH) return FAIL(p, "nesting deeper than %d levels", RMQ_TOML_MAX_DEPTH);
        p->depth++;
        bool ok = c == '[' ? parse_array(p, out) : parse_inline_table(p, out);
        p->depth--;
        return ok;
    }
    case 'i':
    case 'n':
    case '+':
    case '-':
        return parse_number(p, out);
    default:
        break;
    }
    if (is_digit(c)) {
        /* date/time: NNNN- or NN: */
        if ((is_digit(peek_at(p, 1)) && peek_at(p, 2) == ':') ||
            (is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) && is_digit(peek_at(p, 3)) && peek_at(p, 4) == '-'))
            return parse_datetime(p, out);
        return parse_number(p, out);
    }
    if (c < 0) return FAIL(p, "expected a value, found end of input");
    if (c == '\n' || c == '\r' || c == '#') return FAIL(p, "expected a value after '='");
    if (c >= 0x20 && c < 0x7F) return FAIL(p, "expected a value, found '%c'", c);
    return FAIL(p, "expected a value, found byte 0x%02x", c);
}

/* ---- key/value pairs and tables ------------------------------------------------------------------- */

static rmq_toml_node_t *new_table(P *p, size_t pos) { return new_node(p, RMQ_TOML_TABLE, pos); }

/* A table created for a key part: its column was recorded when the key was
 * scanned, so long lines are not rescanned (keeps parsing linear). */
static rmq_toml_node_t *new_key_table(P *p, const keypart_t *kp) {
    rmq_toml_node_t *n = rmq_arena_alloc(&p->doc->arena, sizeof(*n));
    if (!n) {
        oom(p);
        return NULL;
    }
    n->type = RMQ_TOML_TABLE;
    n->line = p->line;
    n->col = kp->col;
    return n;
}

static bool parse_keyval(P *p, rmq_toml_node_t *table) {
    keypart_t parts[MAX_KEY_PARTS];
    int np;
    if (!parse_key(p, parts, &np)) return false;
    skip_ws(p);
    if (peek(p) != '=') return FAIL(p, "expected '=' after key");
    p->pos++;
    skip_ws(p);
    /* walk/create the dotted-key tables */
    rmq_toml_node_t *t = table;
    for (int i = 0; i < np - 1; i++) {
        rmq_toml_node_t *child = tab_find(t, parts[i].k, parts[i].klen);
        if (!child) {
            child = new_key_table(p, &parts[i]);
            if (!child) return false;
            child->dotted_section = p->section;
            if (!tab_add(p, t, parts[i].k, parts[i].klen, child)) return false;
        } else if (child->type != RMQ_TOML_TABLE) {
            return fail_at(p, parts[i].pos, "key '%s' is already defined (%s), cannot add keys to it", parts[i].k,
                           rmq_toml_type_name((rmq_toml_type_t)child->type));
        } else if (child->flags & TF_INLINE) {
            return fail_at(p, parts[i].pos, "cannot add keys to inline table '%s'", parts[i].k);
        } else if ((child->flags & TF_EXPLICIT) ||
                   (child->dotted_section && child->dotted_section != p->section)) {
            return fail_at(p, parts[i].pos, "cannot add keys to table '%s' defined elsewhere with a [header] or dotted keys",
                           parts[i].k);
        } else if (!child->dotted_section) {
            child->dotted_section = p->section;
        }
        t = child;
    }
    const keypart_t *last = &parts[np - 1];
    if (tab_find(t, last->k, last->klen)) return fail_at(p, last->pos, "duplicate key '%s'", last->k);
    rmq_toml_node_t *v;
    if (!parse_value(p, &v)) return false;
    return tab_add(p, t, last->k, last->klen, v);
}

/* [a.b.c] or [[a.b.c]] */
static bool parse_header(P *p, rmq_toml_node_t **cur) {
    size_t start = p->pos;
    bool aot = peek_at(p, 1) == '[';
    p->pos += aot ? 2 : 1;
    skip_ws(p);
    keypart_t parts[MAX_KEY_PARTS];
    int np;
    if (!parse_key(p, parts, &np)) return false;
    skip_ws(p);
    if (aot) {
        if (peek(p) != ']' || peek_at(p, 1) != ']') return FAIL(p, "expected ']]' to close the array-of-tables header");
        p->pos += 2;
    } else {
        if (peek(p) != ']') return FAIL(p, "expected ']' to close the table header");
        p->pos++;
    }
    p->section++;
    rmq_toml_node_t *t = p->doc->root;
    for (int i = 0; i < np - 1; i++) {
        rmq_toml_node_t *child = tab_find(t, parts[i].k, parts[i].klen);
        if (!child) {
            child = new_key_table(p, &parts[i]);
            if (!child) return false;
            if (!tab_add(p, t, parts[i].k, parts[i].klen, child)) return false;
        } else if (child->type == RMQ_TOML_ARRAY && (child->flags & TF_AOT)) {
            child = child->u.arr.items[child->u.arr.n - 1];
        } else if (child->type != RMQ_TOML_TABLE) {
            return fail_at(p, parts[i].pos, "key '%s' is already defined (%s), not a table", parts[i].k,
                           rmq_toml_type_name((rmq_toml_type_t)child->type));
        } else if (child->flags & TF_INLINE) {
            return fail_at(p, parts[i].pos, "cannot extend inline table '%s'", parts[i].k);
        }
        t = child;
    }
    const keypart_t *last = &parts[np - 1];
    rmq_toml_node_t *ex = tab_find(t, last->k, last->klen);
    if (aot) {
        rmq_toml_node_t *arr = ex;
        if (!arr) {
            arr = new_node(p, RMQ_TOML_ARRAY, start);
            if (!arr) return false;
            arr->flags = TF_AOT;
            if (!tab_add(p, t, last->k, last->klen, arr)) return false;
        } else if (arr->type != RMQ_TOML_ARRAY || !(arr->flags & TF_AOT)) {
            return fail_at(p, start, "cannot define array of tables '%s': key is already defined (%s)", last->k,
                           arr->type == RMQ_TOML_ARRAY ? "static array" : rmq_toml_type_name((rmq_toml_type_t)arr->type));
        }
        rmq_toml_node_t *elem = new_table(p, start);
        if (!elem) return false;
        elem->flags = TF_EXPLICIT;
        if (!arr_add(p, arr, elem)) return false;
        *cur = elem;
        return true;
    }
    if (!ex) {
        ex = new_table(p, start);
        if (!ex) return false;
        if (!tab_add(p, t, last->k, last->klen, ex)) return false;
    } else if (ex->type != RMQ_TOML_TABLE) {
        return fail_at(p, start, "cannot define table '%s': key is already defined (%s)", last->k,
                       rmq_toml_type_name((rmq_toml_type_t)ex->type));
    } else if (ex->flags & TF_EXPLICIT) {
        return fail_at(p, start, "table '%s' is defined twice", last->k);
    } else if (ex->flags & TF_INLINE) {
        return fail_at(p, start, "cannot redefine inline table '%s'", last->k);
    } else if (ex->dotted_section) {
        return fail_at(p, start, "table '%s' was already defined by dotted keys", last->k);
    } else {
        ex->line = p->line;
        ex->col = col_at(p, start);
    }
    ex->flags |= TF_EXPLICIT;
    *cur = ex;
    return true;
}

static bool expect_eol(P *p, const char *after) {
    skip_ws(p);
    if (!skip_comment(p)) return false;
    if (eof(p) || eat_newline(p)) return true;
    if (peek(p) == '\r') return FAIL(p, "bare carriage return (expected a newline)");
    return FAIL(p, "expected end of line after %s", after);
}

static bool parse_document(P *p) {
    rmq_toml_node_t *cur = p->doc->root;
    if (p->len >= 3 && memcmp(p->s, "\xEF\xBB\xBF", 3) == 0) p->pos = 3; /* BOM */
    p->section = 1;
    while (!eof(p)) {
        skip_ws(p);
        int c = peek(p);
        if (c < 0) break;
        if (c == '#') {
            if (!expect_eol(p, "comment")) return false;
            continue;
        }
        if (eat_newline(p)) continue;
        if (c == '[') {
            if (!parse_header(p, &cur)) return false;
            if (!expect_eol(p, "table header")) return false;
            continue;
        }
        if (!parse_keyval(p, cur)) return false;
        if (!expect_eol(p, "value")) return false;
    }
    return true;
}

/* ---- public API ------------------------------------------------------------------------------------- */

rmq_err_t rmq_toml_parse(const char *text, size_t len, rmq_toml_t **out, char *errbuf, size_t errlen) {
    if (errbuf && errlen) errbuf[0] = 0;
    if (!out || (!text && len)) return RMQ_ERR_INVALID_ARG;
    *out = NULL;
    rmq_toml_t *doc = calloc(1, sizeof(*doc));
    if (!doc) return RMQ_ERR_NOMEM;
    /* bound what a hostile document can make us allocate */
    size_t cap = len > (SIZE_MAX / 64) ? SIZE_MAX : 64 * len + (16u << 20);
    rmq_arena_init(&doc->arena, cap);
    P p = {.s = (const unsigned char *)(text ? text : ""), .len = len, .line = 1, .cache_col = 1, .doc = doc,
           .err = RMQ_NONE, .errbuf = errbuf, .errlen = errlen};
    doc->root = rmq_arena_alloc(&doc->arena, sizeof(*doc->root));
    if (!doc->root) {
        free(doc);
        return RMQ_ERR_NOMEM;
    }
    doc->root->type = RMQ_TOML_TABLE;
    doc->root->flags = TF_EXPLICIT;
    doc->root->line = 1;
    doc->root->col = 1;
    bool ok = check_utf8(&p) && parse_document(&p);
    free(p.sbuf);
    if (!ok) {
        rmq_err_t e = p.err != RMQ_NONE ? p.err : RMQ_ERR_PARSE;
        rmq_toml_free(doc);
        return e;
    }
    *out = doc;
    return RMQ_NONE;
}

void rmq_toml_free(rmq_toml_t *doc) {
    if (!doc) return;
    rmq_arena_free(&doc->arena);
    free(doc);
}

const rmq_toml_node_t *rmq_toml_root(const rmq_toml_t *doc) { return doc ? doc->root : NULL; }

rmq_toml_type_t rmq_toml_type(const rmq_toml_node_t *n) { return n ? (rmq_toml_type_t)n->type : 0; }

const char *rmq_toml_type_name(rmq_toml_type_t t) {
    switch (t) {
    case RMQ_TOML_TABLE: return "table";
    case RMQ_TOML_ARRAY: return "array";
    case RMQ_TOML_STRING: return "string";
    case RMQ_TOML_INT: return "integer";
    case RMQ_TOML_FLOAT: return "float";
    case RMQ_TOML_BOOL: return "boolean";
    case RMQ_TOML_DATETIME: return "offset date-time";
    case RMQ_TOML_DATETIME_LOCAL: return "local date-time";
    case RMQ_TOML_DATE_LOCAL: return "local date";
    case RMQ_TOML_TIME_LOCAL: return "local time";
    }
    return "unknown";
}

uint32_t rmq_toml_line(const rmq_toml_node_t *n) { return n ? n->line : 0; }
uint32_t rmq_toml_col(const rmq_toml_node_t *n) { return n ? n->col : 0; }

size_t rmq_toml_table_count(const rmq_toml_node_t *n) {
    return n && n->type == RMQ_TOML_TABLE ? n->u.tab.n : 0;
}

const rmq_toml_node_t *rmq_toml_table_getn(const rmq_toml_node_t *n, const char *key, size_t klen) {
    if (!n || n->type != RMQ_TOML_TABLE || !key) return NULL;
    return tab_find(n, key, klen);
}

const rmq_toml_node_t *rmq_toml_table_get(const rmq_toml_node_t *n, const char *key) {
    return key ? rmq_toml_table_getn(n, key, strlen(key)) : NULL;
}

const rmq_toml_node_t *rmq_toml_table_at(const rmq_toml_node_t *n, size_t i, const char **key, size_t *klen) {
    if (!n || n->type != RMQ_TOML_TABLE || i >= n->u.tab.n) return NULL;
    if (key) *key = n->u.tab.items[i].key;
    if (klen) *klen = n->u.tab.items[i].klen;
    return n->u.tab.items[i].val;
}

size_t rmq_toml_array_len(const rmq_toml_node_t *n) { return n && n->type == RMQ_TOML_ARRAY ? n->u.arr.n : 0; }

const rmq_toml_node_t *rmq_toml_array_at(const rmq_toml_node_t *n, size_t i) {
    if (!n || n->type != RMQ_TOML_ARRAY || i >= n->u.arr.n) return NULL;
    return n->u.arr.items[i];
}

bool rmq_toml_get_int(const rmq_toml_node_t *n, int64_t *out) {
    if (!n || n->type != RMQ_TOML_INT) return false;
    if (out) *out = n->u.i;
    return true;
}

bool rmq_toml_get_float(const rmq_toml_node_t *n, double *out) {
    if (!n || n->type != RMQ_TOML_FLOAT) return false;
    if (out) *out = n->u.f;
    return true;
}

bool rmq_toml_get_bool(const rmq_toml_node_t *n, bool *out) {
    if (!n || n->type != RMQ_TOML_BOOL) return false;
    if (out) *out = n->u.b;
    return true;
}

bool rmq_toml_get_string(const rmq_toml_node_t *n, const char **out, size_t *len) {
    if (!n || n->type != RMQ_TOML_STRING) return false;
    if (out) *out = n->u.str.s;
    if (len) *len = n->u.str.len;
    return true;
}

static bool is_dt(const rmq_toml_node_t *n) {
    return n && (n->type == RMQ_TOML_DATETIME || n->type == RMQ_TOML_DATETIME_LOCAL ||
                 n->type == RMQ_TOML_DATE_LOCAL || n->type == RMQ_TOML_TIME_LOCAL);
}

bool rmq_toml_get_datetime(const rmq_toml_node_t *n, rmq_toml_datetime_t *out) {
    if (!is_dt(n)) return false;
    if (out) *out = n->u.dt;
    return true;
}

size_t rmq_toml_datetime_format(const rmq_toml_node_t *n, char *buf, size_t buflen) {
    if (!is_dt(n)) return 0;
    const rmq_toml_datetime_t *d = &n->u.dt;
    char tmp[64];
    size_t l = 0;
    if (n->type != RMQ_TOML_TIME_LOCAL) l += (size_t)snprintf(tmp + l, sizeof tmp - l, "%04d-%02d-%02d", d->year, d->month, d->day);
    if (n->type != RMQ_TOML_DATE_LOCAL) {
        if (n->type != RMQ_TOML_TIME_LOCAL) tmp[l++] = 'T';
        l += (size_t)snprintf(tmp + l, sizeof tmp - l, "%02d:%02d:%02d", d->hour, d->minute, d->second);
        if (d->frac_digits > 0) {
            char f[16];
            snprintf(f, sizeof f, "%09d", d->nanosecond);
            f[d->frac_digits] = 0;
            l += (size_t)snprintf(tmp + l, sizeof tmp - l, ".%s", f);
        }
    }
    if (n->type == RMQ_TOML_DATETIME) {
        if (d->offset_minutes == 0) {
            tmp[l++] = 'Z';
            tmp[l] = 0;
        } else {
            int o = d->offset_minutes < 0 ? -d->offset_minutes : d->offset_minutes;
            l += (size_t)snprintf(tmp + l, sizeof tmp - l, "%c%02d:%02d", d->offset_minutes < 0 ? '-' : '+', o / 60,
                                  o % 60);
        }
    }
    tmp[l] = 0;
    if (buf && buflen) {
        size_t c = l < buflen - 1 ? l : buflen - 1;
        memcpy(buf, tmp, c);
        buf[c] = 0;
    }
    return l;
}
