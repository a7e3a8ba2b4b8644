"""CSV numbers through the whole service, bit for bit: a body of random and
adversarial decimals (float32 midpoints and their neighbours, 9 to 40
significant digits, 19/20-digit significands, subnormals, the overflow edge,
leading zeros, long exponents) uploaded as text/csv, the stored float32 blobs
read back from SQLite and compared with a reference that rounds the exact
rational value (Python's Fraction) to float32, ties to even — computed here,
independently of glibc and of fitd's code."""
import random
import struct
from fractions import Fraction

from harness import FitdCase, db_query

FEATURES = 40


def f32_exact(text):
    """The float32 bits nearest the decimal text (ties to even); None on overflow."""
    a = Fraction(text)
    sign = 1 << 31 if a < 0 or text.startswith("-") else 0
    a = abs(a)
    if a == 0:
        return sign
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    e = max(e, -126)  # below: the subnormals' fixed quantum
    m = round(a / Fraction(2) ** (e - 23))  # Fraction rounds half to even, exactly
    if m == 1 << 24:
        m, e = 1 << 23, e + 1
    if e > 127:
        return None
    if m < 1 << 23:
        return sign | m
    return sign | (e + 127) << 23 | (m - (1 << 23))


def twice(text):
    """The float32 bits of text rounded to double, then to float32 (the old way)."""
    try:
        return struct.unpack("<I", struct.pack("<f", float(Fraction(text))))[0]
    except OverflowError:
        return None


def midpoint_digits(u):
    """The exact midpoint above the float with bits u (u < 0x7f7fffff) as
    (its decimal digits, p): the midpoint is int(digits) * 10^p."""
    lo = Fraction(struct.unpack("<f", struct.pack("<I", u))[0])
    hi = Fraction(struct.unpack("<f", struct.pack("<I", u + 1))[0])
    mid = (lo + hi) / 2
    k = mid.denominator.bit_length() - 1  # a power of two: mid = n / 2^k = n * 5^k / 10^k
    digits = str(mid.numerator * 5 ** k)
    return digits, -k


def scientific(digits, p):
    """int(digits) * 10^p as d.ddd...e±N, trailing zeros dropped."""
    e = p + len(digits) - 1
    digits = digits.rstrip("0") or "0"
    return "%s%s%se%d" % (digits[0], "." if len(digits) > 1 else "", digits[1:], e)


def cells(rng, n):
    out = []
    while len(out) < n:
        k = rng.randrange(12)
        if k == 0:
            out.append(str(rng.randrange(256)))
        elif k == 1:
            out.append("0.%09d" % rng.randrange(10 ** 9))
        elif k == 2:
            out.append("%.*e" % (rng.randrange(1, 18), rng.uniform(-1, 1) * 10 ** rng.randrange(-40, 38)))
        elif k in (3, 4, 5):
            # a midpoint: exact (the ties), cut to 9..40 digits (just below), or
            # with a digit 1 past its end (just above)
            u = rng.choice([rng.randrange(1, 0x7f7fffff), rng.randrange(1, 1 << 23),
                            0x3f800000 + rng.randrange(4096), 0x7f7ffffe])
            digits, p = midpoint_digits(u)
            mant, exp = scientific(digits, p).split("e")
            if k == 3:
                t = mant + "e" + exp
            elif k == 4:
                t = mant[:rng.randrange(10, 42)] + "e" + exp
            else:
                t = mant + "1e" + exp
            out.append(("-" if rng.random() < 0.3 else "") + t)
        elif k == 6:
            # 19 and 20 significant digits: the significand's cut
            out.append("%d%018d.%de%d" % (rng.randrange(1, 10), rng.randrange(10 ** 18), rng.randrange(10),
                                          rng.randrange(-60, 10)))
        elif k == 7:
            # leading zeros and long exponents
            out.append("0.%s%d" % ("0" * rng.randrange(40), rng.randrange(1, 10 ** 6)) +
                       "e%s%012d" % (rng.choice(["", "+", "-"]), rng.randrange(30)))
        elif k == 8:
            # subnormals and the bottom edge
            out.append("%d.%de-%d" % (rng.randrange(1, 10), rng.randrange(10 ** 12), rng.choice([39, 42, 44, 45, 46])))
        elif k == 9:
            # just below the overflow edge (2^128 - 2^103 = 3.4028235677973366...e38)
            out.append("3.40282356779733%de38" % rng.randrange(0, 600))
        elif k == 10:
            out.append("%d" % rng.randrange(10 ** 25))
        else:
            out.append(rng.choice(["0", "-0", "0.0", "1e-50", "16777217", "16777219", "0.1", "1e10", "1e-10"]))
        if f32_exact(out[-1]) is None:
            out.pop()
    return out


class TestCsvExact(FitdCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cls.start_class_server(name="csv-exact")
        cls.c = cls.srv.client

    def stored_x(self, dataset_id):
        rows = db_query(self.srv.db, "SELECT x FROM dataset_chunks WHERE dataset_id = %d ORDER BY seq" % dataset_id)
        blob = b"".join(r[0] for r in rows)
        return struct.unpack("<%dI" % (len(blob) // 4), blob)

    def test_every_cell_correctly_rounded(self):
        rng = random.Random(12)
        n_rows = 600
        texts = []
        lines = []
        for _ in range(n_rows):
            row = cells(rng, FEATURES)
            texts.extend(row)
            lines.append(",".join(row) + ",%d" % rng.randrange(3))
        body = ("\r\n" if rng.random() < 0.5 else "\n").join(lines) + "\n"
        r = self.c.post("/v1/datasets?name=exact&header=false", body=body.encode(),
                        headers={"Content-Type": "text/csv"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["n_samples"], n_rows)
        self.assertEqual(r.json["n_features"], FEATURES)
        got = self.stored_x(r.json["id"])
        self.assertEqual(len(got), len(texts))
        wrong = [(t, "%08x" % g, "%08x" % f32_exact(t)) for t, g in zip(texts, got) if g != f32_exact(t)]
        self.assertEqual(wrong[:5], [], "%d of %d cells rounded wrongly" % (len(wrong), len(texts)))
        # precondition: the body does hold cells that double rounding gets wrong
        double = sum(1 for t in texts if twice(t) != f32_exact(t))
        self.assertGreater(double, 100)

    def test_overflow_edge(self):
        # 2^128 - 2^103, halfway from FLT_MAX to 2^128, rounds to 2^128: refused
        for text, ok in (("3.4028235677973366e38", True), ("340282356779733661637539395458142568447.9", True),
                         ("340282356779733661637539395458142568448", False), ("3.4028235677973367e38", False),
                         ("1e39", False)):
            body = "1,2\n%s,0\n" % text
            r = self.c.post("/v1/datasets?name=edge&header=false", body=body.encode(),
                            headers={"Content-Type": "text/csv"})
            if ok:
                self.assertStatus(r, 201, text)
                self.assertEqual(self.stored_x(r.json["id"])[1], 0x7f7fffff, text)
            else:
                self.assertError(r, 400, "invalid_csv", msg=text)
