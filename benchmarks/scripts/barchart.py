"""A paired horizontal bar chart written as PNG with nothing but Python's standard library (zlib), for machines
without matplotlib: the GPU machines this project measures on reach no package index.

    barchart.write_png(path, title, rows, series=("bloom4j", "llama.cpp"))

rows: (label, value_a, value_b or None). Each row gets two bars, scaled to the larger of its two values (tokens/s
differ by orders of magnitude between prefill and decode, so one shared scale would hide every decode row), with
the values printed after the bars and their ratio at the right. Text is drawn with a built-in 5x7 pixel font:
digits, letters (shown upper case) and a few signs.
"""
import struct
import zlib

# 5x7 glyphs, one string of 7 rows of 5 pixels each ('#' = ink).
_GLYPHS = {
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11110 00001 00001 01110 00001 00001 11110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "-": "00000 00000 00000 11111 00000 00000 00000", ".": "00000 00000 00000 00000 00000 01100 01100",
    "_": "00000 00000 00000 00000 00000 00000 11111", ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00001 00010 00010 00100 01000 01000 10000", "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000", "%": "11001 11010 00010 00100 01000 01011 10011",
    "@": "01110 10001 10111 10101 10111 10000 01110", "+": "00000 00100 00100 11111 00100 00100 00000",
    "x": "00000 00000 10001 01010 00100 01010 10001", "=": "00000 00000 11111 00000 11111 00000 00000",
    ",": "00000 00000 00000 00000 01100 00100 01000", " ": "00000 00000 00000 00000 00000 00000 00000",
}
_UNKNOWN = "11111 10001 10001 10001 10001 10001 11111"

WHITE, BLACK, GREY = (255, 255, 255), (40, 40, 40), (200, 200, 200)
COLOURS = ((31, 119, 180), (255, 127, 14))  # the two series


class _Canvas:
    def __init__(self, width, height):
        self.w, self.h = width, height
        self.px = bytearray(WHITE * (width * height))

    def rect(self, x, y, w, h, colour):
        for yy in range(max(0, y), min(self.h, y + h)):
            row = yy * self.w
            for xx in range(max(0, x), min(self.w, x + w)):
                i = 3 * (row + xx)
                self.px[i:i + 3] = bytes(colour)

    def text(self, x, y, s, colour=BLACK, scale=2):
        """Draws s with its top-left corner at (x, y); returns the x after it."""
        for ch in s:
            glyph = _GLYPHS.get(ch, _GLYPHS.get(ch.upper(), _UNKNOWN))
            for r, bits in enumerate(glyph.split()):
                for c, bit in enumerate(bits):
                    if bit == "1":
                        self.rect(x + c * scale, y + r * scale, scale, scale, colour)
            x += 6 * scale
        return x

    def png(self):
        raw = b"".join(b"\x00" + bytes(self.px[3 * self.w * y:3 * self.w * (y + 1)]) for y in range(self.h))

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))


def text_width(s, scale=2):
    return 6 * scale * len(s)


def write_png(path, title, rows, series=("bloom4j", "llama.cpp")):
    """Writes the chart of rows [(label, a, b or None)] to path."""
    label_w = max([text_width(r[0]) for r in rows] + [text_width("model")]) + 20
    bar_w, value_w, ratio_w = 360, 120, 110
    row_h, top = 44, 70
    width = label_w + bar_w + value_w + ratio_w
    height = top + row_h * len(rows) + 20
    c = _Canvas(width, height)
    c.text(10, 10, title[:width // 12 - 2])
    x = 10
    for colour, name in zip(COLOURS, series):
        c.rect(x, 40, 14, 14, colour)
        x = c.text(x + 20, 40, name) + 24
    c.text(label_w + bar_w + value_w, 40, "ratio")
    for i, (label, a, b) in enumerate(rows):
        y = top + i * row_h
        c.rect(0, y + row_h - 2, width, 1, GREY)
        c.text(10, y + 12, label)
        top_value = max(v for v in (a, b) if v) if (a or b) else 1.0
        for j, v in enumerate((a, b)):
            by = y + 4 + j * 18
            if v:
                length = max(1, int(bar_w * v / top_value))
                c.rect(label_w, by, length, 14, COLOURS[j])
                c.text(label_w + length + 6, by, f"{v:.1f}" if v < 1000 else f"{v:.0f}")
            else:
                c.text(label_w, by, "-")
        if a and b:
            c.text(label_w + bar_w + value_w, y + 12, f"{a / b:.2f}")
    with open(path, "wb") as f:
        f.write(c.png())
