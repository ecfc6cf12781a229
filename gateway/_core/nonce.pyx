"""Nonces that only go up, shared by every process on the host that signs
with the same key.

Venues reject a nonce at or below one they already accepted, and some reject
one far from their clock, so a nonce is the wall clock in the venue's unit,
bumped past the last nonce handed out. Millisecond timestamps alone collide as
soon as two orders leave in the same millisecond.

The last nonce handed out (the high-water mark) lives in a small file mapped
MAP_SHARED: processes sharing the file meet in the page cache and agree with
one compare-and-swap per draw, no lock. The mark outlives a restart, so a
restart within the same millisecond, or a clock stepped back by NTP, cannot
hand out a nonce twice.

File layout, native byte order (the file never leaves the host):
    0   8 bytes  magic b"OGNONCE1"
    8   u64      unit code (1 ns, 2 us, 3 ms)
    16  u64      high-water mark
"""

import os

from libc.errno cimport errno, ENOENT, EEXIST
from libc.stdint cimport uint64_t, UINT64_MAX
from libc.string cimport memcmp, memcpy, memset
from posix.fcntl cimport open as c_open, O_RDWR, O_CREAT, O_EXCL, O_CLOEXEC
from posix.mman cimport mmap, munmap, msync, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_FAILED, MS_SYNC
from posix.stat cimport struct_stat, fstat
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME
from posix.unistd cimport close as c_close, fsync, ftruncate, getpid, link, pwrite, unlink

cdef extern from "atomic64.h" nogil:
    uint64_t gw_atomic_load_u64(const uint64_t *p)
    int gw_atomic_cas_u64(uint64_t *p, uint64_t *expected, uint64_t desired)


cdef enum:
    HEADER_SIZE = 24
    UNIT_OFFSET = 8
    MARK_OFFSET = 16
    UNIT_NS = 1
    UNIT_US = 2
    UNIT_MS = 3

cdef const char *MAGIC = b"OGNONCE1"

UNITS = {"ns": UNIT_NS, "us": UNIT_US, "ms": UNIT_MS}
cdef dict _UNIT_NAMES = {UNIT_NS: "ns", UNIT_US: "us", UNIT_MS: "ms"}


class NonceFileError(ValueError):
    """The nonce file exists but is not a nonce file for this unit."""


cdef int _raise_os(int err, str what, str path) except -1:
    raise OSError(err, f"nonce file: {what} failed: {os.strerror(err)}", path)


cdef inline uint64_t _clock(int unit_code) noexcept nogil:
    # CLOCK_REALTIME is what venues compare against (and what time.time_ns()
    # reads); constant divisors per branch keep the divide a multiply.
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    if ts.tv_sec < 0:
        return 0
    if unit_code == UNIT_MS:
        return <uint64_t>ts.tv_sec * 1000u + <uint64_t>ts.tv_nsec // 1000000u
    if unit_code == UNIT_US:
        return <uint64_t>ts.tv_sec * 1000000u + <uint64_t>ts.tv_nsec // 1000u
    return <uint64_t>ts.tv_sec * 1000000000u + <uint64_t>ts.tv_nsec


cdef int _create(bytes bpath, str path, uint64_t unit_code) except -1:
    """Create the file fully initialised, or find that another process did.

    The header is written into a private temporary file that link() then
    puts in place; link never replaces an existing file, so a process racing
    us either wins (we open its file) or loses, and nobody ever opens a
    half-written header. Returns an open descriptor on the file at path.
    """
    cdef bytes tmp = bpath + (".%d.tmp" % getpid()).encode()
    cdef unsigned char header[HEADER_SIZE]
    cdef uint64_t zero = 0
    cdef int fd, err
    fd = c_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    if fd < 0 and errno == EEXIST:
        # left by a crashed process that had our pid; nobody else writes it
        unlink(tmp)
        fd = c_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    if fd < 0:
        _raise_os(errno, "create", path)
    memcpy(header, MAGIC, 8)
    memcpy(header + UNIT_OFFSET, &unit_code, 8)
    memcpy(header + MARK_OFFSET, &zero, 8)
    if pwrite(fd, header, HEADER_SIZE, 0) != HEADER_SIZE or fsync(fd) != 0:
        err = errno
        c_close(fd)
        unlink(tmp)
        _raise_os(err, "write header", path)
    if link(tmp, bpath) != 0:
        err = errno
        c_close(fd)
        unlink(tmp)
        if err != EEXIST:
            _raise_os(err, "link", path)
        fd = c_open(bpath, O_RDWR | O_CLOEXEC)
        if fd < 0:
            _raise_os(errno, "open", path)
        return fd
    unlink(tmp)
    return fd


cdef class NonceAllocator:
    """Hands out nonces above every nonce any process sharing path got.

    NonceAllocator(path, unit) with unit "ns", "us" or "ms", the venue's.
    The file is created (mode 0600) if missing. A file made for another unit
    is refused: its mark would be meaningless, and mixing units is exactly
    how nonces go backwards.
    """

    def __cinit__(self):
        self._map = NULL
        self._word = NULL

    def __init__(self, path, str unit):
        cdef int fd, err
        cdef struct_stat st
        cdef void *m
        cdef uint64_t code, stored
        cdef bytes bpath
        if unit not in UNITS:
            raise ValueError(f"nonce unit must be one of 'ns', 'us', 'ms', not {unit!r}")
        if self._map != NULL:
            raise RuntimeError("NonceAllocator.__init__ called twice")
        self.path = os.fsdecode(os.fspath(path))
        self.unit = unit
        self._unit_code = UNITS[unit]
        code = <uint64_t>self._unit_code
        bpath = os.fsencode(self.path)

        fd = c_open(bpath, O_RDWR | O_CLOEXEC)
        if fd < 0:
            if errno != ENOENT:
                _raise_os(errno, "open", self.path)
            fd = _create(bpath, self.path, code)
        try:
            if fstat(fd, &st) != 0:
                _raise_os(errno, "fstat", self.path)
            if st.st_size < HEADER_SIZE:
                raise NonceFileError(
                    f"{self.path}: not a nonce file: short file "
                    f"({st.st_size} bytes, need {HEADER_SIZE})")
            m = mmap(NULL, HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            if m == MAP_FAILED:
                _raise_os(errno, "mmap", self.path)
        finally:
            # the mapping keeps the file; no descriptor to leak or inherit
            c_close(fd)

        if memcmp(m, MAGIC, 8) != 0:
            munmap(m, HEADER_SIZE)
            raise NonceFileError(f"{self.path}: not a nonce file: bad magic")
        memcpy(&stored, <unsigned char *>m + UNIT_OFFSET, 8)
        if stored != code:
            munmap(m, HEADER_SIZE)
            raise NonceFileError(
                f"{self.path}: nonce file is for unit "
                f"{_UNIT_NAMES.get(stored, f'<unknown code {stored}>')!r}, not {unit!r}")
        self._map = <unsigned char *>m
        # mmap returns a page-aligned address, so offset 16 is 8-aligned
        self._word = <uint64_t *>(self._map + MARK_OFFSET)

    def __dealloc__(self):
        if self._map != NULL:
            munmap(self._map, HEADER_SIZE)

    cdef unsigned long long next_c(self) except? 0:
        cdef uint64_t cur, now, cand
        if self._word == NULL:
            raise ValueError(f"NonceAllocator for {self.path!r} is closed")
        cur = gw_atomic_load_u64(self._word)
        while True:
            if cur == UINT64_MAX:
                raise OverflowError(f"{self.path}: nonce space exhausted")
            # read the clock inside the loop: after a lost race the winner's
            # value may already be behind the clock
            now = _clock(self._unit_code)
            cand = now if now > cur else cur + 1
            if gw_atomic_cas_u64(self._word, &cur, cand):
                return cand

    def next(self):
        """The next nonce: above every one handed out, and not below the clock."""
        return self.next_c()

    def peek(self):
        """The high-water mark: the last nonce any process got (0 if none)."""
        if self._word == NULL:
            raise ValueError(f"NonceAllocator for {self.path!r} is closed")
        return gw_atomic_load_u64(self._word)

    def sync(self):
        """Flush the mark to disk. Other processes and restarts see it without
        this (page cache); it matters only if the host itself goes down."""
        if self._map == NULL:
            raise ValueError(f"NonceAllocator for {self.path!r} is closed")
        if msync(self._map, HEADER_SIZE, MS_SYNC) != 0:
            _raise_os(errno, "msync", self.path)

    def close(self):
        """Unmap the file. Idempotent; the mark stays in the file."""
        if self._map != NULL:
            munmap(self._map, HEADER_SIZE)
            self._map = NULL
            self._word = NULL

    @property
    def closed(self):
        return self._map == NULL

    def __enter__(self):
        if self._map == NULL:
            raise ValueError(f"NonceAllocator for {self.path!r} is closed")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __repr__(self):
        state = "closed" if self._map == NULL else f"mark={self.peek()}"
        return f"<NonceAllocator path={self.path!r} unit={self.unit!r} {state}>"

    def __reduce__(self):
        # a copy would share nothing with the mapping; processes open by path
        raise TypeError("NonceAllocator cannot be pickled: open the same path in each process")
