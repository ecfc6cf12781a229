"""Latency statistics of the bench: nearest-rank percentiles of samples, and quantiles
of a Prometheus histogram read from a /metrics scrape."""
from __future__ import annotations


QUANTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p999", 0.999))


def nearest_rank(s: list[int] | list[float], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1) of sorted, non-empty samples."""
    return s[min(len(s) - 1, max(0, int(q * len(s) + 0.5) - 1))]


def percentiles_us(samples_ns: list[int] | list[float]) -> dict[str, float]:
    """Nearest-rank percentiles in microseconds; n = 0 gives an empty dict with n."""
    s = sorted(samples_ns)
    out: dict[str, float] = {"n": len(s)}
    if not s:
        return out
    for name, q in QUANTILES:
        out[name] = nearest_rank(s, q) / 1e3
    out["mean"] = sum(s) / len(s) / 1e3
    out["max"] = s[-1] / 1e3
    return out


def histogram_buckets(text: str, name: str, labels: dict[str, str] | None = None) -> list[tuple[float, float]]:
    """Cumulative (upper bound s, count) pairs of one Prometheus histogram in a /metrics scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for fam in text_string_to_metric_families(text):
        if fam.name != name:
            continue
        for sample in fam.samples:
            if sample.name != name + "_bucket":
                continue
            if labels and any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            out.append((float(sample.labels["le"]), sample.value))
    return sorted(out)


def bucket_delta(after: list[tuple[float, float]], before: list[tuple[float, float]]) -> list[tuple[float, float]]:
    prev = dict(before)
    return [(le, n - prev.get(le, 0.0)) for le, n in after]


def bucket_quantiles_us(buckets: list[tuple[float, float]]) -> dict[str, float]:
    """histogram_quantile(): linear inside the bucket holding the rank."""
    if not buckets or buckets[-1][1] <= 0:
        return {"n": 0}
    total = buckets[-1][1]
    out: dict[str, float] = {"n": int(total)}
    for name, q in QUANTILES:
        rank = q * total
        lo_bound, lo_count = 0.0, 0.0
        for le, count in buckets:
            if count >= rank:
                if le == float("inf"):
                    out[name] = lo_bound * 1e6
                else:
                    width = count - lo_count
                    frac = (rank - lo_count) / width if width else 1.0
                    out[name] = (lo_bound + (le - lo_bound) * frac) * 1e6
                break
            lo_bound, lo_count = le, count
    return out
