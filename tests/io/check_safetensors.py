#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Independent reader for tests/io/test_safetensors.cpp: parses a safetensors file with the
standard library only (struct + json), checks the layout rules of the format, and compares the
tensors and metadata with an expected JSON file:
  {"metadata": {...}, "tensors": [{"name": ..., "dtype": "F32"|"F64", "shape": [...], "values": [...]}, ...]}
Usage: check_safetensors.py FILE EXPECTED.json [FILE EXPECTED.json ...]
(exit status 0 when everything matches)."""
import json
import struct
import sys


def fail(msg):
    print("check_safetensors.py: " + msg)
    sys.exit(1)


def check(path, expected_path):
    with open(path, "rb") as f:
        blob = f.read()
    with open(expected_path, "r", encoding="utf-8") as f:
        expected = json.load(f)
    if len(blob) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n % 8 != 0:
        fail("header length %d is not a multiple of 8" % n)
    raw = blob[8:8 + n]
    text = raw.decode("utf-8")
    if text.rstrip(" ") != text.rstrip():
        fail("header padding is not spaces")
    header = json.loads(text)
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    if meta != expected.get("metadata", {}):
        fail("metadata %r != %r" % (meta, expected.get("metadata", {})))
    # Contiguous, in order, covering the data section.
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            fail("tensor %s starts at %d, expected %d" % (name, begin, pos))
        pos = end
    if pos != len(data):
        fail("tensors cover %d bytes, data section has %d" % (pos, len(data)))
    order = [name for _, _, name in spans]
    want_order = [t["name"] for t in expected["tensors"]]
    if order != want_order:
        fail("data order %r != %r" % (order, want_order))
    for t in expected["tensors"]:
        info = header[t["name"]]
        if info["dtype"] != t["dtype"] or info["shape"] != t["shape"]:
            fail("%s: dtype/shape %s %s != %s %s" % (t["name"], info["dtype"], info["shape"], t["dtype"], t["shape"]))
        code, width = {"F32": ("f", 4), "F64": ("d", 8)}[info["dtype"]]
        count = 1
        for d in info["shape"]:
            count *= d
        begin, end = info["data_offsets"]
        if end - begin != count * width:
            fail("%s: span %d != %d" % (t["name"], end - begin, count * width))
        values = struct.unpack("<%d%s" % (count, code), data[begin:end])
        want = [struct.unpack("<" + code, struct.pack("<" + code, v))[0] for v in t["values"]]
        if list(values) != want:
            fail("%s: values %r != %r" % (t["name"], values, want))
    print("check_safetensors.py: %s OK (%d tensors)" % (path, len(expected["tensors"])))


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        fail("usage: check_safetensors.py FILE EXPECTED.json [FILE EXPECTED.json ...]")
    for i in range(0, len(args), 2):
        check(args[i], args[i + 1])


if __name__ == "__main__":
    main()
