/*
 * layerlab.sources._tarscan: walk the plain header blocks of an uncompressed tar in a file, seeking
 * past contents, and append their fields to Python lists.
 *
 * Written by hand because no maintained library lists a tar's headers without reading contents
 * and without a Python object per member (tarfile builds a TarInfo per member and was most of the
 * time of a layer of many small files). Only the common case is read here: a ustar/GNU header with
 * octal numbers, a correct unsigned checksum, a regular file, link, device, directory or fifo, and
 * a name that needs no normalising beyond "./" and slashes, with GNU long names and links and PAX
 * path, linkpath, size, uid, gid and mtime records (the ones tarheader applies, as Go's archive/tar
 * applies them: docs/formats.md, "Tar headers: whose reading layerlab follows") before it. At
 * anything else (sparse files, global or long PAX records, base-256 numbers, a bad checksum, a name
 * with "//", "/./" or "/..", the end of the archive or of the file) it stops and returns, and layerlab.sources.tarstream reads that entry
 * with the Python parser (tarheader.parse_headers), the reference the tests compare this with.
 *
 * scan(fd: int, pos: int, end: int, cols: [paths, links]) ->
 *     (pos: int, stopped: int, types: bytes, size: bytes, mode: bytes, uid: bytes, gid: bytes, mtime: bytes)
 *   appends to paths (str) and links (str for symlinks, normalised str for hard links, else None);
 *   returns the typeflag byte of each entry, and its size, mode (& 07777), uid, gid and mtime (µs) as
 *   packed native int64 (no Python object per number).
 *   stopped: 0 at an entry for the Python parser (pos is its header), 1 at an all-zero block
 *   (end of archive), 2 when fewer than 512 bytes are left before end.
 * scan_buffer(data: bytes-like, pos: int, cols) -> the same tuple, over a chunk of a tar stream in
 *   memory (a layer blob as it is inflated): contents are skipped by counting, so the returned pos
 *   may lie past len(data) (the caller skips the rest in the next chunks); stopped 2 then means the
 *   next entry's headers are not all in data (pos is where they start).
 * Read-only: pread only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#ifndef WINDOW
#define WINDOW (1 << 16)
#endif
#ifndef SMALL_WINDOW
#define SMALL_WINDOW (1 << 12)
#endif

typedef struct {
    int fd;                   /* -1: the tar is the bytes at mem (scan_buffer) */
    const unsigned char *mem;
    long long mem_len;
    long long start; /* file offset of buf[0] */
    Py_ssize_t len;
    unsigned char buf[WINDOW];
} Reader;

/* The 512-byte block at pos, or NULL (errno set on a read error, 0 at end of file). */
static const unsigned char *block_at(Reader *r, long long pos) {
    if (r->fd < 0) {
        errno = 0;
        return pos >= 0 && pos + 512 <= r->mem_len ? r->mem + pos : NULL;
    }
    if (pos >= r->start && pos + 512 <= r->start + r->len)
        return r->buf + (pos - r->start);
    /* After a jump over a file's contents read a little (the next header, and maybe a few small
     * entries); when the walk runs on past the window (small entries back to back), a whole window.
     * Most of the time of a header walk over a big layer was the kernel copying 64 KiB windows. */
    size_t want = pos > r->start + r->len || r->start < 0 ? SMALL_WINDOW : WINDOW;
    ssize_t n;
    do {
        n = pread(r->fd, r->buf, want, pos);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return NULL;
    errno = 0;
    r->start = pos;
    r->len = n;
    return n >= 512 ? r->buf : NULL;
}

/* An octal field as tarfile's nti reads it (up to the first NUL, spaces stripped); 0 on failure. */
static int octal(const unsigned char *f, int width, long long *out) {
    if (f[0] & 0x80)
        return 0; /* base-256 */
    int i = 0, end = width;
    for (int k = 0; k < width; k++)
        if (f[k] == 0) {
            end = k;
            break;
        }
    while (i < end && (f[i] == ' ' || f[i] == '\t' || f[i] == '\n' || f[i] == '\r' || f[i] == '\v' || f[i] == '\f'))
        i++;
    while (end > i && (f[end - 1] == ' ' || f[end - 1] == '\t' || f[end - 1] == '\n' || f[end - 1] == '\r' ||
                       f[end - 1] == '\v' || f[end - 1] == '\f'))
        end--;
    long long v = 0;
    if (i == end) {
        *out = 0;
        return 1;
    }
    for (int k = i; k < end; k++) {
        if (f[k] < '0' || f[k] > '7')
            return 0;
        v = v * 8 + (f[k] - '0');
    }
    *out = v;
    return 1;
}

static Py_ssize_t field_len(const unsigned char *f, Py_ssize_t width) {
    const void *nul = memchr(f, 0, width);
    return nul ? (const unsigned char *)nul - f : width;
}

/* tarheader.clean_path for names that need no normpath: "/" + name without leading "/" and "./",
 * trailing "/" dropped. Returns the length written to out, or -1 when normpath would be needed. */
static Py_ssize_t clean(const unsigned char *name, Py_ssize_t n, unsigned char *out) {
    Py_ssize_t i = 0;
    while (i < n && name[i] == '/')
        i++;
    out[0] = '/';
    Py_ssize_t len = 1;
    memcpy(out + 1, name + i, n - i);
    len += n - i;
    if (len >= 3 && out[1] == '.' && out[2] == '/') { /* "/./x" -> "/x" */
        memmove(out, out + 2, len - 2);
        len -= 2;
    }
    while (len > 1 && out[len - 1] == '/')
        len--;
    for (Py_ssize_t k = 0; k + 1 < len; k++) {
        if (out[k] != '/')
            continue;
        if (out[k + 1] == '/')
            return -1;
        if (out[k + 1] == '.' && (k + 2 == len || out[k + 2] == '/' || (out[k + 2] == '.')))
            return -1; /* "/./", "/.", "/..": normpath's business */
    }
    return len;
}

#define EXT_MAX 8192 /* longer GNU/PAX records are left to the Python parser */

/* Read exactly n bytes at off into out; 0 when the file (or buffer) ends first. */
static int read_exact(Reader *r, unsigned char *out, Py_ssize_t n, long long off) {
    if (r->fd < 0) {
        if (off + n > r->mem_len)
            return 0;
        memcpy(out, r->mem + off, n);
        return 1;
    }
    int fd = r->fd;
    Py_ssize_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, out + got, n - got, off + got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return 0;
        got += k;
    }
    return 1;
}

static int decimal(const unsigned char *s, Py_ssize_t n, long long *out) {
    long long v = 0;
    if (n <= 0 || n > 18)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* A PAX time ("sec[.frac]") in microseconds, as tarheader reads it: the first nine fraction digits,
 * floored to the microsecond (toward the past). 0 (the Python parser decides) for a time outside
 * the years 1 to 9999, which the files frame does not hold. */
static int pax_time(const unsigned char *s, Py_ssize_t n, long long *out) {
    int neg = n > 0 && s[0] == '-';
    const unsigned char *dot = memchr(s, '.', n);
    Py_ssize_t slen = dot ? dot - s : n;
    long long sec;
    if (!decimal(s + neg, slen - neg, &sec))
        return 0;
    if (neg ? sec > 62135596800LL : sec > 253402300799LL)
        return 0;
    long long frac = 0; /* nanoseconds */
    if (dot) {
        Py_ssize_t flen = n - slen - 1;
        for (Py_ssize_t i = 0; i < 9; i++) {
            unsigned char ch = i < flen ? dot[1 + i] : '0';
            if (ch < '0' || ch > '9')
                return 0;
            frac = frac * 10 + (ch - '0');
        }
        for (Py_ssize_t i = 9; i < flen; i++)
            if (dot[1 + i] < '0' || dot[1 + i] > '9')
                return 0;
    }
    long long us = neg ? -sec * 1000000LL - (frac + 999) / 1000 : sec * 1000000LL + frac / 1000;
    if (us < -62135596800000000LL)
        return 0;
    *out = us;
    return 1;
}

/* What the extension headers before an entry give it. As Go's archive/tar (docker's reader): the
 * last PAX header counts (each one replaces the one before), and a GNU long name or link wins over a
 * PAX path or linkpath whatever their order. */
typedef struct {
    unsigned char name[EXT_MAX], link[EXT_MAX];    /* GNU long name, long link */
    unsigned char pname[EXT_MAX], plink[EXT_MAX];  /* PAX path, linkpath */
    Py_ssize_t name_len, link_len, pname_len, plink_len; /* -1: not given */
    long long size, uid, gid, mtime_us;
    int has_size, has_uid, has_gid, has_mtime;
} Ext;

static void pax_reset(Ext *x) {
    x->pname_len = x->plink_len = -1;
    x->has_size = x->has_uid = x->has_gid = x->has_mtime = 0;
}

/* Apply PAX records as tarheader.parse_pax/_header do; 0 when they need the Python parser (which
 * also says what Go refuses): any record not plainly well formed, an empty value, a NUL. */
static int pax_records(const unsigned char *d, Py_ssize_t n, Ext *x) {
    Py_ssize_t pos = 0;
    pax_reset(x);
    while (pos < n) {
        const unsigned char *sp = memchr(d + pos, ' ', n - pos);
        if (!sp)
            return 0;
        long long length;
        if (!decimal(d + pos, sp - (d + pos), &length) || length < 5 || pos + length > n ||
            d[pos + length - 1] != '\n' || sp + 1 >= d + pos + length - 1)
            return 0;
        const unsigned char *rec = sp + 1, *stop = d + pos + length - 1;
        const unsigned char *eq = memchr(rec, '=', stop - rec);
        if (!eq || eq == rec || eq + 1 == stop || memchr(rec, 0, stop - rec))
            return 0;
        Py_ssize_t klen = eq - rec, vlen = stop - (eq + 1);
        const unsigned char *v = eq + 1;
#define KEY(k) (klen == (Py_ssize_t)sizeof(k) - 1 && memcmp(rec, k, klen) == 0)
        if (KEY("path") || KEY("linkpath")) {
            unsigned char *dst = KEY("path") ? x->pname : x->plink;
            if (vlen >= EXT_MAX)
                return 0;
            memcpy(dst, v, vlen);
            if (KEY("path"))
                x->pname_len = vlen;
            else
                x->plink_len = vlen;
        } else if (KEY("atime") || KEY("ctime")) { /* not kept, but Go refuses a bad one */
            long long unused;
            if (!pax_time(v, vlen, &unused))
                return 0;
        } else if (KEY("size")) {
            if (!decimal(v, vlen, &x->size))
                return 0;
            x->has_size = 1;
        } else if (KEY("uid")) {  /* past uint32 (what Linux holds): tarheader says why, in Python */
            if (!decimal(v, vlen, &x->uid) || x->uid > 0xFFFFFFFFLL)
                return 0;
            x->has_uid = 1;
        } else if (KEY("gid")) {
            if (!decimal(v, vlen, &x->gid) || x->gid > 0xFFFFFFFFLL)
                return 0;
            x->has_gid = 1;
        } else if (KEY("mtime")) {
            if (!pax_time(v, vlen, &x->mtime_us))
                return 0;
            x->has_mtime = 1;
        } else if (klen >= 11 && memcmp(rec, "GNU.sparse.", 11) == 0) {
            return 0;
        }
#undef KEY
        pos += length;
    }
    return 1;
}

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int buf_put(Buf *b, const void *v, Py_ssize_t n) {
    if (b->len + n > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->len + n)
            cap *= 2;
        char *data = PyMem_RawRealloc(b->data, cap); /* the raw allocator: called without the GIL */
        if (!data)
            return -1; /* the caller raises MemoryError once it holds the GIL again */
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, v, n);
    b->len += n;
    return 0;
}

static int append(PyObject *list, PyObject *value) {
    if (!value)
        return -1;
    int rc = PyList_Append(list, value);
    Py_DECREF(value);
    return rc;
}

static int columns(PyObject *cols, PyObject *c[2]) {
    if (PyList_GET_SIZE(cols) != 2) {
        PyErr_SetString(PyExc_ValueError, "cols must be a list of 2 lists");
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        c[i] = PyList_GET_ITEM(cols, i);
        if (!PyList_Check(c[i])) {
            PyErr_SetString(PyExc_TypeError, "cols must hold lists");
            return -1;
        }
    }
    return 0;
}

static PyObject *walk(Reader *r, long long pos, long long end, PyObject *c[2]);

static PyObject *scan(PyObject *self, PyObject *args) {
    int fd;
    long long pos, end;
    PyObject *cols, *c[2];
    if (!PyArg_ParseTuple(args, "iLLO!", &fd, &pos, &end, &PyList_Type, &cols) || columns(cols, c) < 0)
        return NULL;
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "fd must be a file descriptor");
        return NULL;
    }
    Reader *r = PyMem_Malloc(sizeof(Reader));
    if (!r)
        return PyErr_NoMemory();
    r->fd = fd;
    r->start = -1;
    r->len = 0;
    PyObject *result = walk(r, pos, end, c);
    PyMem_Free(r);
    return result;
}

/* scan_buffer(data, pos, cols): the same walk over the tar bytes in ``data`` (a chunk of a stream),
 * from ``pos``. A regular file's contents may run past the end of data: the returned pos is then
 * beyond len(data), and the caller skips that many bytes of the stream. stopped 2 means: the next
 * entry's headers are not all in data (pos is where they start); the caller joins more of the stream. */
static PyObject *scan_buffer(PyObject *self, PyObject *args) {
    Py_buffer view;
    long long pos;
    PyObject *cols, *c[2];
    if (!PyArg_ParseTuple(args, "y*LO!", &view, &pos, &PyList_Type, &cols))
        return NULL;
    if (columns(cols, c) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Reader *r = PyMem_Malloc(sizeof(Reader) - WINDOW); /* no window: the bytes are all there */
    if (!r) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    r->fd = -1;
    r->mem = view.buf;
    r->mem_len = view.len;
    r->start = -1;
    r->len = 0;
    PyObject *result = walk(r, pos, view.len, c);
    PyMem_Free(r);
    PyBuffer_Release(&view);
    return result;
}

/* The walk runs without the GIL (the reads, the parsing, the names gathered as bytes), so that
 * another thread (importing pandas, hashing the same file, inflating another layer) runs meanwhile;
 * every BATCH entries it takes the GIL once to make their names str objects (a batch's names are
 * still in the cache then; one pass over all of them at the end was slower than the walk holding
 * the GIL). failed: 1 a read error (err holds errno), 2 out of memory, 3 a Python error. */
#ifndef BATCH
#define BATCH 2048
#endif
static PyObject *walk(Reader *r, long long pos, long long end, PyObject *c[2]) {
    int stopped = 0, err = 0;
    unsigned char path[EXT_MAX + 8], link[EXT_MAX + 8], data[EXT_MAX];
    Ext *x = PyMem_RawMalloc(sizeof(Ext));
    if (!x)
        return PyErr_NoMemory();
    x->name_len = x->link_len = -1;
    pax_reset(x);
    long long entry = pos; /* where this entry's first header (extension records included) is */
    Buf nums[6] = {{0}}; /* typeflag (1 byte each), then int64 size, mode, uid, gid, mtime_us */
    /* the names: bytes back to back, and per entry (Py_ssize_t) the end of its path, of its link */
    Buf names = {0}, ends = {0};
    int failed = 0, more;
    do { /* a batch of entries without the GIL, then their names made str objects with it */
    more = 0;
    int batch = 0;
    Py_BEGIN_ALLOW_THREADS
    while (1) {
        if (pos + 512 > end) {
            stopped = 2;
            break;
        }
        const unsigned char *b = block_at(r, pos);
        if (!b) {
            if (errno) {
                err = errno;
                failed = 1;
                break;
            }
            stopped = 2;
            break;
        }
        int zero = 1;
        for (int k = 0; k < 512; k++)
            if (b[k]) {
                zero = 0;
                break;
            }
        if (zero) {
            stopped = 1;
            break;
        }
        unsigned char t = b[156];
        int ext = (t == 'L' || t == 'K' || t == 'x');
        if (!(ext || t == 0 || (t >= '0' && t <= '7')))
            break;
        long long chk, size, mode, uid, gid, mtime;
        if (!octal(b + 148, 8, &chk))
            break;
        long long sum = 256;
        for (int k = 0; k < 148; k++)
            sum += b[k];
        for (int k = 156; k < 512; k++)
            sum += b[k];
        if (sum != chk)
            break;
        if (!octal(b + 124, 12, &size) || !octal(b + 100, 8, &mode) || !octal(b + 108, 8, &uid) ||
            !octal(b + 116, 8, &gid) || !octal(b + 136, 12, &mtime))
            break;
        if (ext) {
            long long next = pos + 512 + ((size + 511) / 512) * 512;
            if (size >= EXT_MAX)
                break;
            if (next > end || !read_exact(r, data, size, pos + 512)) {
                if (r->fd < 0)
                    stopped = 2; /* the rest of this entry's headers is in the next chunk */
                break;
            }
            if (t == 'x') {
                if (!pax_records(data, size, x))
                    break;
            } else { /* GNU long name or link: a C string, up to its first NUL; an empty one is none */
                Py_ssize_t n = field_len(data, size);
                memcpy(t == 'L' ? x->name : x->link, data, n);
                if (t == 'L')
                    x->name_len = n ? n : -1;
                else
                    x->link_len = n ? n : -1;
            }
            pos = next;
            continue;
        }
        if (x->has_size)
            size = x->size;
        if (x->has_uid)
            uid = x->uid;
        if (x->has_gid)
            gid = x->gid;
        long long mtime_us = x->has_mtime ? x->mtime_us : mtime * 1000000LL; /* 11 octal digits: < year 2243 */
        Py_ssize_t nlen = field_len(b, 100), plen = field_len(b + 345, 155);
        unsigned char full[EXT_MAX + 8];
        Py_ssize_t flen = 0;
        if (x->name_len >= 0) { /* a GNU long name or a PAX path replaces the header's */
            memcpy(full, x->name, x->name_len);
            flen = x->name_len;
        } else if (x->pname_len >= 0) {
            memcpy(full, x->pname, x->pname_len);
            flen = x->pname_len;
        } else {
            if (plen) {
                memcpy(full, b + 345, plen);
                full[plen] = '/';
                flen = plen + 1;
            }
            memcpy(full + flen, b, nlen);
            flen += nlen;
        }
        if (t == 0 && nlen && b[nlen - 1] == '/')
            t = '5'; /* an old-style regular entry named like a directory is one (as tarfile reads it) */
        Py_ssize_t len = clean(full, flen, path);
        if (len < 0)
            break;
        int regular = (t == '0' || t == 0 || t == '7');
        long long next = pos + 512 + (regular ? ((size + 511) / 512) * 512 : 0);
        if (next > end && r->fd >= 0)
            break; /* cut short: the Python parser says so (a stream's contents run on into the next chunks) */
        const unsigned char *lsrc = x->link_len >= 0 ? x->link : x->plink_len >= 0 ? x->plink : b + 157;
        Py_ssize_t llen = x->link_len >= 0 ? x->link_len : x->plink_len >= 0 ? x->plink_len : field_len(b + 157, 100);
        const unsigned char *lname = NULL; /* the link's name as kept: none, a symlink's target as */
        Py_ssize_t lname_len = 0;          /* written, a hard link's target cleaned as paths are */
        if (t == '2') {
            lname = lsrc;
            lname_len = llen;
        } else if (t == '1') {
            lname_len = clean(lsrc, llen, link);
            if (lname_len < 0)
                break;
            lname = link;
        }
        if (!(len == 1 && path[0] == '/')) {
            int64_t v[5] = {regular ? size : 0, mode & 07777, uid, gid, mtime_us};
            unsigned char has_link = lname != NULL;
            Py_ssize_t path_end = names.len + len, link_end = path_end + lname_len;
            if (buf_put(&names, path, len) < 0 || buf_put(&names, lname ? lname : path, lname_len) < 0 ||
                buf_put(&ends, &path_end, sizeof path_end) < 0 || buf_put(&ends, &link_end, sizeof link_end) < 0 ||
                buf_put(&ends, &has_link, 1) < 0 || buf_put(&nums[0], &t, 1) < 0 ||
                buf_put(&nums[1], &v[0], 8) < 0 || buf_put(&nums[2], &v[1], 8) < 0 ||
                buf_put(&nums[3], &v[2], 8) < 0 || buf_put(&nums[4], &v[3], 8) < 0 ||
                buf_put(&nums[5], &v[4], 8) < 0) {
                failed = 2;
                break;
            }
        }
        pos = entry = next;
        x->name_len = x->link_len = -1;
        pax_reset(x);
        if (++batch == BATCH) {
            more = 1;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed == 1) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
    } else if (failed == 2) {
        PyErr_NoMemory();
    }
    /* the names as str objects (the filesystem encoding with surrogateescape, as os.fsdecode) */
    const unsigned char *e = (const unsigned char *)ends.data;
    Py_ssize_t start = 0, step = 2 * sizeof(Py_ssize_t) + 1;
    for (Py_ssize_t i = 0; !failed && i < ends.len / step; i++) {
        Py_ssize_t path_end, link_end;
        memcpy(&path_end, e + i * step, sizeof path_end);
        memcpy(&link_end, e + i * step + sizeof path_end, sizeof link_end);
        PyObject *lnk = Py_None;
        Py_INCREF(Py_None);
        if (e[i * step + 2 * sizeof(Py_ssize_t)]) {
            Py_DECREF(lnk);
            lnk = PyUnicode_DecodeFSDefaultAndSize(names.data + path_end, link_end - path_end);
        }
        if (!lnk || append(c[0], PyUnicode_DecodeFSDefaultAndSize(names.data + start, path_end - start)) < 0 ||
            PyList_Append(c[1], lnk) < 0)
            failed = 3;
        Py_XDECREF(lnk);
        start = link_end;
    }
    names.len = ends.len = 0;
    } while (more && !failed);
    PyMem_RawFree(x);
    PyMem_RawFree(names.data);
    PyMem_RawFree(ends.data);
    PyObject *result = NULL;
    if (!failed) {
        if (stopped == 0 || entry != pos)
            pos = entry; /* the Python parser reads this entry from its first extension header */
        result = Py_BuildValue("(Liy#y#y#y#y#y#)", pos, stopped, nums[0].data, nums[0].len, nums[1].data,
                               nums[1].len, nums[2].data, nums[2].len, nums[3].data, nums[3].len, nums[4].data,
                               nums[4].len, nums[5].data, nums[5].len);
    }
    for (int i = 0; i < 6; i++)
        PyMem_RawFree(nums[i].data);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Append a tar's plain header fields to columns; stop where Python must read."},
    {"scan_buffer", scan_buffer, METH_VARARGS, "The same over a chunk of a tar stream in memory."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tarscan", "Tar header walk into columns.", -1, methods};

PyMODINIT_FUNC PyInit__tarscan(void) {
    PyObject *m = PyModule_Create(&module);
    /* the unit of the mtimes it returns: a build of older source (nanoseconds) is not used */
    if (m && PyModule_AddStringConstant(m, "MTIME_UNIT", "us") < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
