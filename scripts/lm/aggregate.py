"""Aggregation over training seeds (no numpy, so report.py can use it):
the mean, the sample standard deviation (n - 1) and the count, and the
relative change of one series against another seed by seed."""
import math


def mean_sd(values):
    """(mean, sd, n) of the values that are not None; sd is the sample
    standard deviation (None with fewer than two values); (None, None, 0)
    with none."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None, None, 0
    mean = sum(xs) / len(xs)
    if len(xs) < 2:
        return mean, None, len(xs)
    return mean, math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)), len(xs)


def paired_relative(values, baseline):
    """Per seed, value / baseline - 1, where both exist (pairs by seed, so
    the seed-to-seed spread of the baseline cancels)."""
    return [None if v is None or b is None else v / b - 1 for v, b in zip(values, baseline)]


def format_mean_sd(values, fmt="{:.3f}", percent=False):
    """"m ± sd (n)" ("-" with no value; no ± with one)."""
    mean, sd, n = mean_sd(values)
    if mean is None:
        return "-"
    scale = 100 if percent else 1
    text = fmt.format(mean * scale)
    if sd is not None:
        text += " ± " + fmt.replace("+", "").format(sd * scale)
    return text + ("%" if percent else "") + (f" (n={n})" if n != 1 else " (n=1)")
