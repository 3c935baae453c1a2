#!/usr/bin/env python3
"""gen_kafka_codec.py - generate src/protocol/kafka_msgs.{c,h} from Kafka's JSON
message definitions.

Owns: the translation of the Apache Kafka message JSON files (schema only; no
"about" prose is copied) into C structs (the union of every field over every
valid version) and compact descriptor tables that the generic encoder/decoder
in src/protocol/kafka_codec.c walks. Nothing is generated per field as code:
each field is one row of a table.

Usage:
    /usr/bin/python3 tools/gen_kafka_codec.py /work/shared/kafka-protocol/messages src/protocol

The output is committed so the build never needs the JSON files.
"""
import json
import os
import re
import sys

# API keys we generate, in the order of the task list (emitted sorted by key).
API_KEYS = [18, 3, 0, 1, 2, 19, 20, 37, 32, 33, 44, 10, 11, 14, 12, 13, 8, 9, 16,
            15, 42, 22, 60, 17, 36, 21, 23, 61]

VMAX = 0x7FFF  # "N+" upper bound

PRIM = {
    "bool": ("bool", "RMQ_KT_BOOL", "rmq_karr_bool_t"),
    "int8": ("int8_t", "RMQ_KT_INT8", "rmq_karr_i8_t"),
    "int16": ("int16_t", "RMQ_KT_INT16", "rmq_karr_i16_t"),
    "uint16": ("uint16_t", "RMQ_KT_UINT16", "rmq_karr_u16_t"),
    "int32": ("int32_t", "RMQ_KT_INT32", "rmq_karr_i32_t"),
    "int64": ("int64_t", "RMQ_KT_INT64", "rmq_karr_i64_t"),
    "float64": ("double", "RMQ_KT_FLOAT64", "rmq_karr_f64_t"),
    "uuid": ("rmq_kuuid_t", "RMQ_KT_UUID", "rmq_karr_uuid_t"),
    "string": ("rmq_kstr_t", "RMQ_KT_STRING", "rmq_karr_str_t"),
    "bytes": ("rmq_kbytes_t", "RMQ_KT_BYTES", "rmq_karr_bytes_t"),
    "records": ("rmq_kbytes_t", "RMQ_KT_RECORDS", None),
}

C_KEYWORDS = {"default", "int", "char", "long", "short", "const", "static", "struct",
              "union", "switch", "case", "break", "continue", "return", "if", "else",
              "for", "while", "do", "goto", "register", "signed", "unsigned", "void",
              "volatile", "auto", "extern", "enum", "typedef", "sizeof", "float",
              "double", "inline", "restrict", "bool"}


def strip_comments(text):
    """Remove // comments that are outside JSON strings."""
    out = []
    i, n = 0, len(text)
    in_str = False
    while i < n:
        ch = text[i]
        if in_str:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_str = False
            i += 1
            continue
        if ch == '"':
            in_str = True
            out.append(ch)
            i += 1
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "/":
            while i < n and text[i] != "\n":
                i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_versions(s):
    """'0+' -> (0, VMAX); '1-3' -> (1, 3); '2' -> (2, 2); 'none'/None -> (1, 0)."""
    if s is None:
        return (1, 0)
    s = str(s).strip()
    if s == "none" or s == "":
        return (1, 0)
    if s.endswith("+"):
        return (int(s[:-1]), VMAX)
    if "-" in s:
        a, b = s.split("-")
        return (int(a), int(b))
    return (int(s), int(s))


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = s.lower()
    if s in C_KEYWORDS:
        s += "_"
    return s


def parse_int_default(v, typ):
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, int):
        return v
    s = str(v).strip().lower()
    if typ == "bool":
        if s in ("true", "false"):
            return 1 if s == "true" else 0
        raise ValueError("bad bool default %r" % v)
    if s == "":
        return 0
    return int(s, 0)


class Gen:
    def __init__(self):
        self.h = []  # struct typedefs
        self.c = []  # descriptor tables
        self.externs = []

    def gen_struct(self, prefix, cname, desc_name, fields, common, msg_ver, api_key, flex, top_name, exported):
        """Emit (children first) the C struct `cname` and descriptor `desc_name`."""
        members = []
        rows = []
        for f in fields:
            fname = snake(f["name"])
            typ = f["type"]
            is_arr = typ.startswith("[]")
            base = typ[2:] if is_arr else typ
            fmin, fmax = parse_versions(f.get("versions"))
            nmin, nmax = parse_versions(f.get("nullableVersions"))
            tag = f.get("tag", -1)
            tmin, tmax = parse_versions(f.get("taggedVersions")) if tag != -1 else (1, 0)
            sub = "NULL"
            default = f.get("default")
            def_null = 0
            def_int = 0
            def_f64 = "0.0"
            def_str = "NULL"
            if base in PRIM:
                ctype, kt, arrtype = PRIM[base]
                if is_arr:
                    if arrtype is None:
                        raise ValueError("array of records unsupported")
                    members.append("    %s %s;" % (arrtype, fname))
                else:
                    members.append("    %s %s;" % (ctype, fname))
                if default is not None and not is_arr:
                    if base in ("string",):
                        if str(default) == "null":
                            def_null = 1
                        elif default != "":
                            def_str = json.dumps(str(default))
                    elif base in ("bytes", "records"):
                        if str(default) == "null":
                            def_null = 1
                    elif base == "float64":
                        def_f64 = repr(float(default))
                    elif base == "uuid":
                        pass
                    else:
                        def_int = parse_int_default(default, base)
                elif default is not None and is_arr and str(default) == "null":
                    def_null = 1
                if base == "records" and not is_arr:
                    def_null = 1
            else:
                # struct or array of structs
                kt = "RMQ_KT_STRUCT"
                sfields = f.get("fields")
                scname = "%s_%s_t" % (prefix, snake(base).rstrip("_"))
                sdesc = "%s_%s_desc" % (prefix, snake(base).rstrip("_"))
                if sfields is None and scname not in self.emitted:
                    if base not in common:
                        raise ValueError("unknown struct type %s" % base)
                    sfields = common[base]
                if scname not in self.emitted:
                    self.emitted.add(scname)
                    self.gen_struct(prefix, scname, sdesc, sfields, common, msg_ver, -1, flex, base, False)
                sub = "&" + sdesc
                if is_arr:
                    members.append("    struct { int32_t n; %s *v; } %s;" % (scname, fname))
                    if default is not None and str(default) == "null":
                        def_null = 1
                else:
                    members.append("    %s %s;" % (scname, fname))
            rows.append((tag, f["name"], fname, sub, kt, 1 if is_arr else 0, def_null,
                         fmin, fmax, nmin, nmax, tmin, tmax, def_int, def_f64, def_str))
        # non-tagged in declaration order, then tagged by tag number
        ordered = [r for r in rows if r[0] == -1] + sorted([r for r in rows if r[0] != -1], key=lambda r: r[0])
        self.h.append("typedef struct %s {" % cname[:-2])
        if members:
            self.h.extend(members)
        else:
            self.h.append("    char unused_;")
        self.h.append("} %s;\n" % cname)
        tbl = "%s_fields" % desc_name
        if ordered:
            self.c.append("static const rmq_kafka_field_desc_t %s[] = {" % tbl)
            for (tag, jname, fname, sub, kt, arr, dnull, fmin, fmax, nmin, nmax, tmin, tmax, dint, df64, dstr) in ordered:
                self.c.append(
                    '    {"%s", %s, offsetof(%s, %s), %s, %d, %d, %d, %d, %d, %d, %d, %d, %d, %dLL, %s, %s},'
                    % (fname, sub, cname, fname, kt, arr, dnull, fmin, fmax, nmin, nmax, tag, tmin, tmax,
                       dint, df64, dstr))
            self.c.append("};")
        storage = "" if exported else "static "
        self.c.append('%sconst rmq_kafka_msg_desc_t %s = {"%s", %d, %d, %d, %d, sizeof(%s), %d, %s};\n'
                      % (storage, desc_name, top_name, api_key, msg_ver[0], msg_ver[1], flex, cname,
                         len(ordered), tbl if ordered else "NULL"))
        if exported:
            self.externs.append("extern const rmq_kafka_msg_desc_t %s;" % desc_name)


def load(path):
    with open(path, encoding="utf-8") as fh:
        return json.loads(strip_comments(fh.read()))


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: gen_kafka_codec.py MESSAGES_DIR OUT_DIR\n")
        return 2
    mdir, odir = sys.argv[1], sys.argv[2]
    by_key = {}
    for fn in sorted(os.listdir(mdir)):
        if not fn.endswith(".json"):
            continue
        m = load(os.path.join(mdir, fn))
        if m.get("type") not in ("request", "response") or m.get("apiKey") not in API_KEYS:
            continue
        by_key.setdefault(m["apiKey"], {})[m["type"]] = m
    g = Gen()
    apis = []
    for key in sorted(API_KEYS):
        pair = by_key[key]
        api_name = pair["request"]["name"][: -len("Request")]
        row = {"key": key, "name": api_name}
        for kind in ("request", "response"):
            m = pair[kind]
            ver = parse_versions(m["validVersions"])
            fmin, fmax = parse_versions(m.get("flexibleVersions"))
            flex = fmin if fmin <= fmax and fmin <= ver[1] else VMAX
            prefix = "rmq_kmsg_" + snake(m["name"])
            common = {cs["name"]: cs["fields"] for cs in m.get("commonStructs", [])}
            g.emitted = set()
            g.gen_struct(prefix, prefix + "_t", prefix + "_desc", m["fields"], common, ver, key, flex,
                         m["name"], True)
            row[kind] = prefix + "_desc"
            row[kind + "_ver"] = ver
            row[kind + "_flex"] = flex
        assert row["request_ver"] == row["response_ver"], api_name
        apis.append(row)

    hdr = []
    hdr.append("/* kafka_msgs.h - GENERATED by tools/gen_kafka_codec.py from Kafka's JSON message")
    hdr.append(" * definitions. Do not edit; regenerate (see docs/protocol.md).")
    hdr.append(" *")
    hdr.append(" * One struct per request/response: the union of the fields of every valid")
    hdr.append(" * version (absent fields keep their defaults, see rmq_kafka_msg_init). Strings,")
    hdr.append(" * bytes and records are views into the decoded frame; arrays live in the arena")
    hdr.append(" * passed to rmq_kafka_decode. Each message has a descriptor the generic codec")
    hdr.append(" * in kafka_codec.c walks. */")
    hdr.append("#ifndef RMQ_PROTOCOL_KAFKA_MSGS_H")
    hdr.append("#define RMQ_PROTOCOL_KAFKA_MSGS_H\n")
    hdr.append('#include "protocol/kafka_codec.h"\n')
    hdr.append("enum {")
    for a in apis:
        hdr.append("    RMQ_KAPI_%s = %d," % (snake(a["name"]).upper(), a["key"]))
    hdr.append("};\n")
    hdr.append("#define RMQ_KAFKA_NUM_APIS %d\n" % len(apis))
    hdr.extend(g.h)
    hdr.extend(g.externs)
    hdr.append("\n#endif")

    src = []
    src.append("/* kafka_msgs.c - GENERATED by tools/gen_kafka_codec.py: descriptor tables for the")
    src.append(" * messages declared in kafka_msgs.h and the API table used by kafka_api.c.")
    src.append(" * Row layout: rmq_kafka_field_desc_t in kafka_codec.h. Do not edit. */")
    src.append('#include "protocol/kafka_msgs.h"\n')
    src.append("#include <stddef.h>\n")
    src.append('#include "protocol/kafka_api.h"\n')
    src.extend(g.c)
    src.append("const rmq_kafka_api_info_t rmq_kafka_api_table[RMQ_KAFKA_NUM_APIS] = {")
    for a in apis:
        src.append('    {%d, "%s", %d, %d, %d, &%s, &%s},' % (
            a["key"], a["name"], a["request_ver"][0], a["request_ver"][1], a["request_flex"],
            a["request"], a["response"]))
    src.append("};")

    with open(os.path.join(odir, "kafka_msgs.h"), "w") as fh:
        fh.write("\n".join(hdr) + "\n")
    with open(os.path.join(odir, "kafka_msgs.c"), "w") as fh:
        fh.write("\n".join(src) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
