"""Measured quantities: a bench line's value in base units (ns for times),
the median over the lines that match a name and keys, ratios that refuse
to mix units, and the short number formats of the summary and the plots."""

import statistics

# Time units, in nanoseconds.  Other units (faults/s, callbacks/s) are
# only ever compared with the same unit.
TIME_UNITS = {"ns": 1.0, "us": 1e3, "\u00b5s": 1e3, "ms": 1e6, "s": 1e9}


class UnitMismatch(Exception):
    """Two figures that cannot be compared (different units, a zero divisor)."""


class Q:
    """A measured quantity: value in base units (ns for times), its kind
    ('time' or the unit string) and how many lines it came from."""

    def __init__(self, value, kind, n=1):
        self.value = value
        self.kind = kind
        self.n = n

    def __str__(self):
        if self.kind == "time":
            return fmt_time(self.value)
        return "%s %s" % (fmt_num(self.value), self.kind)


def to_q(value, unit):
    if unit in TIME_UNITS:
        return Q(value * TIME_UNITS[unit], "time")
    return Q(float(value), unit)


class Lookup:
    """The bench records of one run, found by name and keys."""

    def __init__(self, records):
        self.records = records

    def find(self, name, **keys):
        want = {k: str(v) for k, v in keys.items()}
        return [r for r in self.records
                if r["name"] == name and all(r["keys"].get(k) == v for k, v in want.items())]

    def get(self, name, **keys):
        """Median over the matching lines, or None."""
        qs = [to_q(r["value"], r["unit"]) for r in self.find(name, **keys)]
        if not qs:
            return None
        kinds = {q.kind for q in qs}
        if len(kinds) > 1:
            raise UnitMismatch("%s lines in mixed units (%s)" % (name, ", ".join(sorted(kinds))))
        return Q(statistics.median(q.value for q in qs), qs[0].kind, len(qs))

    def key_values(self, name, key, **keys):
        out = set()
        for r in self.find(name, **keys):
            v = r["keys"].get(key)
            if v is not None and v.isdigit():
                out.add(int(v))
        return sorted(out)


def ratio(a, b):
    if a.kind != b.kind:
        raise UnitMismatch("units differ: %s vs %s" % (a.kind, b.kind))
    if b.value == 0:
        raise UnitMismatch("divisor is zero")
    return a.value / b.value


def fmt_num(v):
    a = abs(v)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div * 0.9995:
            return _trim("%.3g" % (v / div)) + suffix
    if a == 0:
        return "0"
    if a >= 100:
        return "%d" % round(v)
    return _trim("%.3g" % v)


def _trim(s):
    if "e" in s:
        return s
    return s.rstrip("0").rstrip(".") if "." in s else s


def fmt_time(ns):
    a = abs(ns)
    if a >= 1e9:
        return _trim("%.3g" % (ns / 1e9)) + " s"
    if a >= 1e6:
        return _trim("%.3g" % (ns / 1e6)) + " ms"
    if a >= 1e3:
        return _trim("%.3g" % (ns / 1e3)) + " us"
    return fmt_num(ns) + " ns"


def fmt_ratio(r):
    return "%.2f" % r


def convert(value, unit, display_unit):
    """value in unit, shown in display_unit (times only; others as they are)."""
    if unit in TIME_UNITS and display_unit in TIME_UNITS:
        return value * TIME_UNITS[unit] / TIME_UNITS[display_unit]
    return float(value)
