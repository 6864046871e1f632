#!/usr/bin/env python3
"""Draws the nightly growth table of bench/growth_bench.sh as an SVG bar chart (stdout).

    bench/growth_chart.py [--title T] [--note N] NIGHTS.tsv > growth.svg

NIGHTS.tsv has a header line and one line per night with the columns night, plain, gzip, restic,
borg, pgdedup, pgdedup_delta, changed (bytes; further columns are ignored). Night 0 (the first,
full backup) is left out of the bars and given in the subtitle. The y axis is logarithmic, so
that growth of a few hundred kB and of tens of MB both stay readable. Standard library only.
"""
import argparse
import csv
import math
import sys
from xml.sax.saxutils import escape

SERIES = [  # column, label, colour
    ("gzip", "pg_dump | gzip (whole dump)", "#9e9e9e"),
    ("restic", "restic, plain pg_dump", "#e6a23c"),
    ("borg", "borg, plain pg_dump", "#c0504d"),
    ("pgdedup", "pgdedup --no-delta", "#5b9bd5"),
    ("pgdedup_delta", "pgdedup (delta chunks)", "#1f4e79"),
    ("changed", "rows really changed, zstd -19", "#70ad47"),
]


def mb(b):
    v = b / 1e6
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", default="Nightly growth")
    ap.add_argument("--note", default="")
    ap.add_argument("tsv")
    args = ap.parse_args()
    with open(args.tsv, newline="") as f:
        rows = [{k: int(float(v)) if k != "night" else int(v) for k, v in r.items() if v != ""}
                for r in csv.DictReader(f, delimiter="\t")]
    first = [r for r in rows if r["night"] == 0]
    nights = [r for r in rows if r["night"] > 0]
    if not nights:
        sys.exit("growth_chart.py: no nights after night 0")

    width, height = 960, 520
    left, right, top, bottom = 70, 250, 70, 60
    pw, ph = width - left - right, height - top - bottom
    values = [r[c] for r in nights for c, _, _ in SERIES if r.get(c, 0) > 0]
    # Axis from the largest 1/2/5 x 10^k at least a third below the smallest bar (so that every
    # bar shows) to the next power of ten above the largest.
    lo = min(values) / 1.5
    e = 10 ** math.floor(math.log10(lo))
    lo = max(m * e for m in (1, 2, 5) if m * e <= lo)
    hi = 10 ** math.ceil(math.log10(max(values)))

    def y(v):
        v = max(v, lo)
        return top + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    out = []
    w = out.append
    w(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
      f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">')
    w(f'<rect width="{width}" height="{height}" fill="white"/>')
    w(f'<text x="{left}" y="24" font-size="16" font-weight="bold">{escape(args.title)}</text>')
    sub = "Added per night (MB = 10^6 bytes, log scale)"
    if first:
        f0 = first[0]
        sub += (f"; night 0 (first backup): gzip {mb(f0['gzip'])}, restic {mb(f0['restic'])}, "
                f"borg {mb(f0['borg'])}, pgdedup {mb(f0['pgdedup'])} / {mb(f0['pgdedup_delta'])} MB")
    w(f'<text x="{left}" y="44" fill="#444">{escape(sub)}</text>')
    if args.note:
        w(f'<text x="{left}" y="60" fill="#a00">{escape(args.note)}</text>')
    # Grid: every power of ten, with 2 and 5 in between.
    d = 10 ** math.floor(math.log10(lo))
    while d <= hi * 1.0001:
        for m in (1, 2, 5):
            v = d * m
            if v < lo * 0.9999:
                continue
            if v > hi * 1.0001:
                break
            yy = y(v)
            w(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" '
              f'stroke="{"#ccc" if m == 1 else "#eee"}"/>')
            label = f"{v / 1e6:g}"
            w(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="#444">{label}</text>')
        d *= 10
    w(f'<text x="18" y="{top + ph / 2}" transform="rotate(-90 18 {top + ph / 2})" '
      f'text-anchor="middle" fill="#444">MB added</text>')
    group = pw / len(nights)
    bar = group * 0.8 / len(SERIES)
    for i, r in enumerate(nights):
        gx = left + i * group + group * 0.1
        for j, (col, label, colour) in enumerate(SERIES):
            v = r.get(col, 0)
            if v <= 0:
                continue
            yy = y(v)
            w(f'<rect x="{gx + j * bar:.1f}" y="{yy:.1f}" width="{bar * 0.92:.1f}" '
              f'height="{top + ph - yy:.1f}" fill="{colour}"><title>night {r["night"]}: '
              f'{escape(label)} {mb(v)} MB</title></rect>')
        w(f'<text x="{left + i * group + group / 2:.1f}" y="{top + ph + 18}" '
          f'text-anchor="middle">night {r["night"]}</text>')
    w(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#444"/>')
    # Legend with the mean per night.
    lx = left + pw + 20
    for j, (col, label, colour) in enumerate(SERIES):
        mean = sum(r.get(col, 0) for r in nights) / len(nights)
        ly = top + 10 + j * 40
        w(f'<rect x="{lx}" y="{ly}" width="14" height="14" fill="{colour}"/>')
        w(f'<text x="{lx + 20}" y="{ly + 11}">{escape(label)}</text>')
        w(f'<text x="{lx + 20}" y="{ly + 26}" fill="#444">mean {mb(mean)} MB/night</text>')
    w("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
