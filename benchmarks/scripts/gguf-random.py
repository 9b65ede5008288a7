#!/usr/bin/env python3
"""Random-weight GGUF files from a GGUF header, fast: for speed measurements on machines where writing a
checkpoint with `bloom init-random` and converting it would take minutes (a GPU machine whose time is counted).

    gguf-random.py header MODEL.gguf OUT.header    # cut a GGUF at its data section (metadata + tensor list only)
    gguf-random.py fill HEADER OUT.gguf [--seed N] # that header, then every tensor filled with random values

`header` keeps what makes the file a model (the key-value metadata, the tokenizer, each tensor's name, shape, type
and offset) and drops the weights: bloom-7b1's header is a few MB where the file is 14 GB. `fill` writes the same
metadata and tensors, each drawn as `bloom init-random` draws them (linear weights N(0, 1/fan_in), layer-norm
weights 1, biases and layer-norm biases 0, the embedding N(0, 0.02^2)), on the GPU through PyTorch when one is
there, else with NumPy. Only f32, f16 and bf16 tensors can be filled; make quantized files from the filled one with
`bloom convert --type q8_0` and the like. Standard library plus NumPy or PyTorch.
"""
import argparse
import struct
import sys

GGUF_MAGIC = b"GGUF"
# Value types of GGUF key-value pairs: fixed-size ones by their struct format, 8 = string, 9 = array.
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9
# Tensor types that can be filled, and their bytes per element.
F32, F16, BF16 = 0, 1, 30
ELEMENT_BYTES = {F32: 4, F16: 2, BF16: 2}


class Reader:
    def __init__(self, f):
        self.f = f

    def read(self, n):
        b = self.f.read(n)
        if len(b) != n:
            raise SystemExit(f"gguf-random: the file ends inside its header (wanted {n} bytes at {self.f.tell()})")
        return b

    def unpack(self, fmt):
        return struct.unpack("<" + fmt, self.read(struct.calcsize("<" + fmt)))[0]

    def string(self):
        return self.read(self.unpack("Q")).decode("utf-8")

    def value(self, vtype):
        if vtype in SCALAR:
            return self.unpack(SCALAR[vtype])
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            itype, n = self.unpack("I"), self.unpack("Q")
            return [self.value(itype) for _ in range(n)]
        raise SystemExit(f"gguf-random: unknown GGUF value type {vtype}")


def parse(path):
    """(metadata dict, tensors [(name, dims, type, offset)], data section start) of a GGUF file or header."""
    with open(path, "rb") as f:
        r = Reader(f)
        if r.read(4) != GGUF_MAGIC:
            raise SystemExit(f"gguf-random: {path} is not a GGUF file")
        version = r.unpack("I")
        if version != 3:
            raise SystemExit(f"gguf-random: {path} is GGUF version {version}; this script reads version 3")
        n_tensors, n_kv = r.unpack("Q"), r.unpack("Q")
        meta = {}
        for _ in range(n_kv):
            key = r.string()
            meta[key] = r.value(r.unpack("I"))
        tensors = []
        for _ in range(n_tensors):
            name = r.string()
            dims = [r.unpack("Q") for _ in range(r.unpack("I"))]
            tensors.append((name, dims, r.unpack("I"), r.unpack("Q")))
        alignment = int(meta.get("general.alignment", 32))
        start = -(-f.tell() // alignment) * alignment
    return meta, tensors, start, alignment


def std_of(name, dims):
    """The mean and standard deviation `bloom init-random` draws a BLOOM tensor from."""
    if name.endswith("_norm.weight"):
        return 1.0, 0.0
    if name.endswith(".bias"):
        return 0.0, 0.0
    if name.startswith("token_embd"):
        return 0.0, 0.02
    return 0.0, dims[0] ** -0.5  # dims[0] is the input size (ggml's ne0) of a linear weight


def cmd_header(args):
    _, _, start, _ = parse(args.model)
    with open(args.model, "rb") as src, open(args.out, "wb") as dst:
        dst.write(src.read(start))
    print(f"wrote {args.out}: the {start:,} bytes before the data section of {args.model}")


def sampler(seed):
    """A function (count, mean, std, type) -> bytes, on the GPU when PyTorch sees one."""
    try:
        import torch
        if torch.cuda.is_available():
            gen = torch.Generator(device="cuda").manual_seed(seed)
            dtypes = {F32: torch.float32, F16: torch.float16, BF16: torch.bfloat16}
            views = {F32: torch.int32, F16: torch.int16, BF16: torch.int16}

            def draw_torch(n, mean, std, ttype):
                x = torch.randn(n, generator=gen, device="cuda", dtype=torch.float32).mul_(std).add_(mean)
                return x.to(dtypes[ttype]).view(views[ttype]).cpu().numpy().tobytes()
            for ttype in ELEMENT_BYTES:  # tried once on every type: a broken PyTorch falls back to NumPy
                if len(draw_torch(16, 0.0, 1.0, ttype)) != 16 * ELEMENT_BYTES[ttype]:
                    raise RuntimeError("PyTorch drew the wrong number of bytes")
            return draw_torch, "PyTorch on " + torch.cuda.get_device_name()
    except ImportError:
        pass
    except Exception as e:  # noqa: BLE001  (any PyTorch failure: the NumPy path gives the same kind of file)
        print(f"gguf-random: PyTorch failed ({e}); drawing with NumPy", file=sys.stderr)
    import numpy as np
    rng = np.random.default_rng(seed)

    def draw_numpy(n, mean, std, ttype):
        x = rng.standard_normal(n, dtype=np.float32) * np.float32(std) + np.float32(mean)
        if ttype == F32:
            return x.tobytes()
        if ttype == F16:
            return x.astype(np.float16).tobytes()
        bits = x.view(np.uint32)  # bf16: round to nearest even on the upper 16 bits
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16).tobytes()
    return draw_numpy, "NumPy on the CPU"


def cmd_fill(args):
    meta, tensors, start, alignment = parse(args.header)
    for name, dims, ttype, _ in tensors:
        if ttype not in ELEMENT_BYTES:
            raise SystemExit(f"gguf-random: tensor {name} has ggml type {ttype}; only f32, f16 and bf16 can be "
                             "filled (quantize the filled file with bloom convert)")
    draw, where = sampler(args.seed)
    chunk = 1 << 28  # elements drawn at once: bounds the memory of the biggest tensors
    with open(args.header, "rb") as src, open(args.out, "wb") as dst:
        dst.write(src.read(start))
        written = 0
        for name, dims, ttype, offset in sorted(tensors, key=lambda t: t[3]):
            if offset < written:
                raise SystemExit(f"gguf-random: tensor {name} overlaps the one before it (offset {offset})")
            dst.write(b"\0" * (offset - written))
            count = 1
            for d in dims:
                count *= d
            mean, std = std_of(name, dims)
            for i in range(0, count, chunk):
                dst.write(draw(min(chunk, count - i), mean, std, ttype))
            written = offset + count * ELEMENT_BYTES[ttype]
        dst.write(b"\0" * (-written % alignment))
        total = dst.tell()
    print(f"wrote {args.out}: {len(tensors)} random tensors ({meta.get('general.architecture', '?')}), "
          f"{total / 1e9:.2f} GB, drawn with {where}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    h = sub.add_parser("header", help="cut a GGUF file at its data section")
    h.add_argument("model")
    h.add_argument("out")
    h.set_defaults(run=cmd_header)
    f = sub.add_parser("fill", help="a header's tensors filled with random values")
    f.add_argument("header")
    f.add_argument("out")
    f.add_argument("--seed", type=int, default=1)
    f.set_defaults(run=cmd_fill)
    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
