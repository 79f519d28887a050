"""A small line-chart PNG writer in pure Python (zlib + struct), the fallback
when matplotlib is absent on the GPU machine or here. Panels of log/linear
axes with ticks, polylines with markers, dashed reference lines, a legend,
and a 5x7 bitmap font (upper-case letters, digits, a little punctuation)."""
import math
import struct
import zlib

# 5x7 glyphs: seven rows as hex pairs, bit 4 the leftmost column.
_FONT = {c: bytes.fromhex(h) for c, h in {
    "0": "0E11131519110E", "1": "040C040404040E", "2": "0E11010204081F", "3": "1F02040201110E",
    "4": "02060A121F0202", "5": "1F101E0101110E", "6": "0608101E11110E", "7": "1F010204080808",
    "8": "0E11110E11110E", "9": "0E11110F01020C", "A": "0E11111F111111", "B": "1E11111E11111E",
    "C": "0E11101010110E", "D": "1C12111111121C", "E": "1F10101E10101F", "F": "1F10101E101010",
    "G": "0E11101711110F", "H": "1111111F111111", "I": "0E04040404040E",
    "J": "0702020202120C", "K": "11121418141211", "L": "1010101010101F",
    "M": "111B1515111111", "N": "11111915131111", "O": "0E11111111110E", "P": "1E11111E101010",
    "Q": "0E11111115120D", "R": "1E11111E141211", "S": "0F10100E01011E", "T": "1F040404040404",
    "U": "1111111111110E", "V": "11111111110A04", "W": "1111111515150A", "X": "11110A040A1111",
    "Y": "1111110A040404", "Z": "1F01020408101F", ".": "00000000000C0C", "-": "0000001F000000",
    "/": "00010204081000", "(": "02040808080402", ")": "08040202020408", ":": "000C0C000C0C00",
    ",": "000000000C0408", "=": "00001F001F0000", "%": "18190204081303",
    "+": "0004041F040400", "_": "0000000000001F", "~": "00000815020000", " ": "00000000000000",
    "<": "02040810080402", ">": "08040201020408", "*": "0004150E150400", "'": "04040800000000",
}.items()}

BLACK, GREY, LIGHT, WHITE = (0, 0, 0), (110, 110, 110), (225, 225, 225), (255, 255, 255)
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127)]


class Canvas:
    def __init__(self, width, height, bg=WHITE):
        self.w, self.h = width, height
        self.px = bytearray(bytes(bg) * (width * height))

    def dot(self, x, y, color, r=0):
        for yy in range(int(y) - r, int(y) + r + 1):
            for xx in range(int(x) - r, int(x) + r + 1):
                if 0 <= xx < self.w and 0 <= yy < self.h:
                    i = 3 * (yy * self.w + xx)
                    self.px[i:i + 3] = bytes(color)

    def line(self, x0, y0, x1, y1, color, width=1, dash=0):
        """Straight line by sampling each pixel step; `dash` is the on/off
        length in pixels (0: solid)."""
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for s in range(n + 1):
            if dash and (s // dash) % 2:
                continue
            t = s / n
            self.dot(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, color, (width - 1) // 2)

    def rect(self, x0, y0, x1, y1, color):
        for x0_, y0_, x1_, y1_ in ((x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1),
                                   (x1, y0, x1, y1)):
            self.line(x0_, y0_, x1_, y1_, color)

    def fill(self, x0, y0, x1, y1, color):
        for y in range(int(y0), int(y1) + 1):
            for x in range(int(x0), int(x1) + 1):
                self.dot(x, y, color)

    def text(self, x, y, s, color=BLACK, scale=1, anchor="left"):
        """Draws `s` upper-cased with its top at y; anchor left/center/right."""
        s = str(s).upper()
        width = text_width(s, scale)
        x = x - width // 2 if anchor == "center" else x - width if anchor == "right" else x
        for k, ch in enumerate(s):
            glyph = _FONT.get(ch, _FONT["*"])
            for row, bits in enumerate(glyph):
                for col in range(5):
                    if bits >> (4 - col) & 1:
                        self.fill(x + (6 * k + col) * scale, y + row * scale,
                                  x + (6 * k + col) * scale + scale - 1,
                                  y + row * scale + scale - 1, color)

    def save(self, path):
        raw = b"".join(b"\0" + bytes(self.px[3 * self.w * y:3 * self.w * (y + 1)])
                       for y in range(self.h))

        def chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data +
                    struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
            f.write(chunk(b"IEND", b""))


def text_width(s, scale=1):
    return max(0, 6 * len(str(s)) - 1) * scale


def read_png(path):
    """(width, height, raw scanlines) of an 8-bit RGB PNG written above;
    raises on a bad signature, CRC or size (the self-test's check)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] != zlib.crc32(kind + body):
            raise ValueError(f"bad CRC in {kind!r}")
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    if size is None or len(raw) != size[1] * (1 + 3 * size[0]):
        raise ValueError("pixel data does not match IHDR")
    return size[0], size[1], raw


def _ticks(lo, hi, log):
    if log:
        out = []
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
            for m in (1, 2, 5):
                v = m * 10.0 ** e
                if lo * 0.999 <= v <= hi * 1.001:
                    out.append(v)
        if len(out) < 3:  # a narrow range: use every integer multiple
            out = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1,
                                                 math.ceil(math.log10(hi)) + 1)
                   for m in range(1, 10) if lo * 0.999 <= m * 10.0 ** e <= hi * 1.001]
        return out
    step = 10 ** math.floor(math.log10((hi - lo) / 4 or 1))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (m * step) <= 6:
            step *= m
            break
    return [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]


def _fmt(v):
    if v == 0:
        return "0"
    return f"{v:g}" if abs(v) >= 1e-3 else f"{v:.0e}"


def chart(path, panels, title="", legend=(), cols=3, panel_w=440, panel_h=330):
    """panels: dicts with title, xlabel, ylabel, logx, logy and series, a list
    of dicts (label, color index or rgb, points [(x, y)], dash px (0 solid)).
    legend: (label, color, dash) entries drawn once under the title."""
    cols = max(1, min(cols, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    top = 58
    c = Canvas(cols * panel_w, top + rows * panel_h)
    c.text(c.w // 2, 8, title, scale=2, anchor="center")
    x = 12
    for label, color, dash in legend:
        color = PALETTE[color % len(PALETTE)] if isinstance(color, int) else color
        c.line(x, 40, x + 24, 40, color, width=3, dash=dash)
        c.text(x + 30, 37, label)
        x += 30 + text_width(label) + 22
    for n, p in enumerate(panels):
        _panel(c, (n % cols) * panel_w, top + (n // cols) * panel_h, panel_w, panel_h, p)
    c.save(path)


def _panel(c, ox, oy, w, h, p):
    left, right, ptop, bottom = ox + 62, ox + w - 14, oy + 22, oy + h - 40
    c.text((left + right) // 2, oy + 6, p.get("title", ""), anchor="center")
    pts = [pt for s in p["series"] for pt in s["points"]
           if pt[1] is not None and (not p.get("logy") or pt[1] > 0)]
    if not pts:
        c.text((left + right) // 2, (ptop + bottom) // 2, "NO DATA", GREY, anchor="center")
        return
    logx, logy = p.get("logx", False), p.get("logy", False)
    xs, ys = [q[0] for q in pts], [q[1] for q in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if logy:
        y0, y1 = y0 / 1.3, y1 * 1.3
    else:
        y0, y1 = min(0.0, y0), y1 * 1.1 or 1.0
    if x0 == x1:
        x0, x1 = (x0 / 2, x1 * 2) if logx else (x0 - 1, x1 + 1)
    if y0 == y1:
        y0, y1 = (y0 / 2, y1 * 2) if logy else (y0 - 1, y1 + 1)

    def tx(v):
        a, b, t = (math.log(x0), math.log(x1), math.log(v)) if logx else (x0, x1, v)
        return left + (t - a) / (b - a) * (right - left)

    def ty(v):
        a, b, t = (math.log(y0), math.log(y1), math.log(v)) if logy else (y0, y1, v)
        return bottom - (t - a) / (b - a) * (bottom - ptop)

    for v in _ticks(y0, y1, logy):
        c.line(left, ty(v), right, ty(v), LIGHT)
        c.line(left - 4, ty(v), left, ty(v), BLACK)
        c.text(left - 7, ty(v) - 3, _fmt(v), anchor="right")
    for v in p.get("xticks") or _ticks(x0, x1, logx):
        c.line(tx(v), bottom, tx(v), bottom + 4, BLACK)
        c.text(tx(v), bottom + 8, _fmt(v), anchor="center")
    c.rect(left, ptop, right, bottom, BLACK)
    c.text((left + right) // 2, bottom + 22, p.get("xlabel", ""), GREY, anchor="center")
    c.text(ox + 4, ptop - 14, p.get("ylabel", ""), GREY)
    for s in p["series"]:
        color = s["color"]
        color = PALETTE[color % len(PALETTE)] if isinstance(color, int) else color
        seg = [(tx(a), ty(b)) for a, b in sorted(s["points"])
               if b is not None and (not logy or b > 0)]
        for (a, b), (cc, d) in zip(seg, seg[1:]):
            c.line(a, b, cc, d, color, width=2, dash=s.get("dash", 0))
        if not s.get("dash"):
            for a, b in seg:
                c.dot(a, b, color, r=2)
