"""Read a timelayers checkpoint with nothing but json and struct, the way any
safetensors reader would, and print what test_checkpoint compares:

    format <format> <format_version> <dtype>
    layers <type> <type> ...
    tensor <name> <ndim> <dims...> <count> <values...>     (in file order)
"""
import json
import struct
import sys

with open(sys.argv[1], "rb") as f:
    buf = f.read()
(n,) = struct.unpack("<Q", buf[:8])
header = json.loads(buf[8:8 + n])
meta = header.pop("__metadata__", {})
base = 8 + n
print("format", meta["format"], meta["format_version"], meta["dtype"])
print("layers", *(layer["type"] for layer in json.loads(meta["architecture"])))
for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
    begin, end = e["data_offsets"]
    code = {"F32": "f", "F64": "d"}[e["dtype"]]
    count = (end - begin) // struct.calcsize(code)
    values = struct.unpack("<%d%s" % (count, code), buf[base + begin:base + end])
    print("tensor", name, len(e["shape"]), *e["shape"], count, *(repr(v) for v in values))
