import logging

from gateway.logs import OneLineFormatter, RateLimit


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


def record(msg, *args, name="gateway.venue.x"):
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_flood_is_held_back_and_counted():
    clock = Clock()
    limit = RateLimit(burst=3, window_s=10, clock=clock)
    passed = [limit.filter(record("venue error %s", i)) for i in range(10)]
    assert passed == [True] * 3 + [False] * 7
    # another template is not affected
    assert limit.filter(record("other %s", 1))
    clock.t = 11
    r = record("venue error %s", 99)
    assert limit.filter(r)
    assert r.getMessage().startswith("(7 more like this held back) venue error 99")


def test_tracebacks_stay_on_one_line():
    fmt = OneLineFormatter()
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        r = logging.LogRecord("g", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = fmt.format(r)
    assert "\n" not in line and "Traceback" in line and "boom | second line" in line
