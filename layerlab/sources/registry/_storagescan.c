/*
 * layerlab.sources.registry._storagescan: the link files and blob data files of a registry's storage
 * on a local filesystem (distribution's filesystem driver), listed and read with the GIL released.
 *
 * Written by hand because the audit of a million-file storage must take a tenth of distribution's
 * garbage-collect (Go): through os.scandir and a Python open per file it took 3-14x GC's time, the
 * cost being a Python object and several calls per directory and file. Here a folder such as
 * ``_layers`` is walked to a fixed depth (``<alg>/<hex>``) and the ``link`` (or ``data``) below each
 * leaf folder is opened and read (or only stat'ed) in C, a few system calls each; Python gets one list.
 *
 * Read-only and confined, as docs/security.md asks: every folder and file is opened relative to a
 * folder already open, without following any symbolic link (openat2 RESOLVE_NO_SYMLINKS |
 * RESOLVE_BENEATH where the kernel has it, else one component at a time with O_NOFOLLOW), with
 * O_NOATIME where allowed and O_NONBLOCK (a FIFO never blocks); only regular files are read (fstat
 * first), and at most ``limit`` bytes of each.
 *
 * scan(dirfd: int, rel: bytes, depth: int, leaf: bytes, read: int, limit: int, only: bytes = b"") -> list | None
 *   The folders ``depth`` levels below ``rel`` (relative to ``dirfd``), each probed for ``leaf`` (a
 *   relative path such as b"link" or b"current/link"). One tuple per leaf folder: (name, code, value):
 *   name: the folder's path below rel ("sha256/<hex>"), str (surrogateescape);
 *   code: 'f' a regular file (value: its size when read is 0, its bytes when 1, when 2 its text:
 *         decoded as UTF-8 with errors replaced and stripped, as Python's bytes.decode().strip()),
 *         'm' no leaf there,
 *         'l' a symbolic link on the way or at the leaf (never followed), 'D' a directory,
 *         'p' FIFO, 's' socket, 'c' device, 'o' other, 'B' above limit (value: its size);
 *   A symbolic link met where a folder is walked is one tuple with code 'L' and its partial name.
 *   depth 0: ``rel`` itself is the leaf folder (one tuple, name ""). None when rel does not exist;
 *   (a leaf below a leaf folder is found through a further folder: depth 4 from ``tags`` reaches
 *   ``<tag>/index/<alg>/<hex>/link``, and passes ``<tag>/current/link`` by, a file above the leaf folders);
 *   a symbolic link on the way to rel raises OSError ELOOP (or ENOTDIR, EXDEV), as do other errors.
 *   only: a pattern of ``depth`` names joined by slashes, a star for any name (a star, "index", a star
 *   and a star below ``tags``): entries of a level whose name differs are passed by, not walked (a tag's
 *   ``current`` folder when its history is wanted).
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <dirent.h> /* DT_* */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef O_NOATIME
#define O_NOATIME 0
#endif

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_put(Buf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data)
            return -1;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

/* One entry: offsets into the names and values buffers. */
typedef struct {
    size_t name_off, name_len, value_off, value_len;
    int64_t size;
    char code;
} Entry;

typedef struct {
    Buf names, values, entries;
    int err;
} Out;

static int noatime_ok = 1;  /* cleared once the kernel refuses O_NOATIME (not the owner) */
static int openat2_ok = 1;  /* cleared once openat2 is missing (old kernel, a seccomp filter) */

static int open_at(int dirfd, const char *path, int flags) {
    /* ``path`` below dirfd, no symbolic link followed anywhere on the way. */
    flags |= O_CLOEXEC | O_NOFOLLOW;
    if (noatime_ok && !(flags & O_PATH))
        flags |= O_NOATIME;
    if (openat2_ok) {
        struct open_how how = {.flags = (uint64_t)flags,
                               .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0)
            return fd;
        if (errno == ENOSYS || (errno == EPERM && !(flags & O_NOATIME))) {
            openat2_ok = 0;
        } else if (errno == EPERM && (flags & O_NOATIME)) {
            noatime_ok = 0;
            return open_at(dirfd, path, flags & ~O_NOATIME);
        } else {
            return -1;
        }
    }
    /* One component at a time, each opened O_NOFOLLOW relative to the one before. */
    char part[4096];
    const char *p = path;
    int cur = dirfd;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n >= sizeof part) {
            errno = ENAMETOOLONG;
            goto fail;
        }
        memcpy(part, p, n);
        part[n] = 0;
        int f = slash ? (O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW | (noatime_ok ? O_NOATIME : 0)) : flags;
        int fd = openat(cur, part, f);
        if (fd < 0 && errno == EPERM && (f & O_NOATIME)) {
            noatime_ok = 0;
            fd = openat(cur, part, f & ~O_NOATIME);
        }
        if (cur != dirfd)
            close(cur);
        cur = dirfd;
        if (fd < 0)
            return -1;
        if (!slash)
            return fd;
        cur = fd;
        p = slash + 1;
    }
fail:
    if (cur != dirfd)
        close(cur);
    return -1;
}

static char code_of(mode_t mode) {
    if (S_ISREG(mode)) return 'f';
    if (S_ISDIR(mode)) return 'D';
    if (S_ISLNK(mode)) return 'l';
    if (S_ISFIFO(mode)) return 'p';
    if (S_ISSOCK(mode)) return 's';
    if (S_ISCHR(mode) || S_ISBLK(mode)) return 'c';
    return 'o';
}

static int add(Out *o, const char *name, size_t name_len, char code, int64_t size, const char *value,
               size_t value_len) {
    Entry e = {o->names.len, name_len, o->values.len, value_len, size, code};
    if (buf_put(&o->names, name, name_len) < 0 || buf_put(&o->values, value, value_len) < 0 ||
        buf_put(&o->entries, &e, sizeof e) < 0) {
        o->err = ENOMEM;
        return -1;
    }
    return 0;
}

/* The leaf below the folder ``name`` (open as ``fd``). */
static int probe(Out *o, int fd, const char *name, size_t name_len, const char *leaf, int read_it, size_t limit,
                 Buf *buf) {
    int lf = open_at(fd, leaf, read_it ? (O_RDONLY | O_NONBLOCK) : O_PATH);
    if (lf < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return add(o, name, name_len, 'm', 0, NULL, 0);
        if (errno == ELOOP || errno == EXDEV)
            return add(o, name, name_len, 'l', 0, NULL, 0);
        if (errno == ENXIO || errno == ENODEV)  /* a socket, or a device without a driver */
            return add(o, name, name_len, 'o', 0, NULL, 0);
        o->err = errno;
        return -1;
    }
    struct stat st;
    if (fstat(lf, &st) < 0) {
        o->err = errno;
        close(lf);
        return -1;
    }
    char code = code_of(st.st_mode);
    int rc;
    if (code != 'f' || !read_it) {
        rc = add(o, name, name_len, code, (int64_t)st.st_size, NULL, 0);
    } else if ((size_t)st.st_size > limit) {
        rc = add(o, name, name_len, 'B', (int64_t)st.st_size, NULL, 0);
    } else {
        size_t got = 0, want = (size_t)st.st_size + 1;  /* one more: a file that grew is seen to */
        while (got <= limit) {  /* bounded: at most limit + 1 bytes, even if the file grows */
            if (got == buf->cap) {
                size_t cap = buf->cap ? buf->cap * 2 : 4096;
                while (cap < want)
                    cap *= 2;
                if (cap > limit + 1)
                    cap = limit + 1;
                char *data = realloc(buf->data, cap);
                if (!data) {
                    o->err = ENOMEM;
                    close(lf);
                    return -1;
                }
                buf->data = data;
                buf->cap = cap;
            }
            size_t ask = buf->cap - got;
            ssize_t n = read(lf, buf->data + got, ask);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                o->err = errno;
                close(lf);
                return -1;
            }
            if (n == 0)
                break;
            got += (size_t)n;
            if ((size_t)n < ask && got >= (size_t)st.st_size)
                break;  /* all fstat said it held, and a short read: its end (saves a read that gives 0) */
        }
        rc = got > limit ? add(o, name, name_len, 'B', (int64_t)got, NULL, 0)
                         : add(o, name, name_len, 'f', (int64_t)got, buf->data, got);
    }
    close(lf);
    return rc;
}

/* A folder's entries read with getdents64 directly: fdopendir's fstat and fcntl calls would add a
 * third to the system calls of a walk whose folders hold one or two entries each. */
struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

typedef struct {
    int fd;
    char *data;
    long len, pos;
} Dir;

static struct linux_dirent64 *next_entry(Dir *dir) {
    if (dir->pos >= dir->len) {
        dir->len = syscall(SYS_getdents64, dir->fd, dir->data, 32768);
        dir->pos = 0;
        if (dir->len <= 0)
            return NULL;  /* the end (0), or an error (-1, errno set) */
    }
    struct linux_dirent64 *d = (struct linux_dirent64 *)(dir->data + dir->pos);
    dir->pos += d->d_reclen;
    return d;
}

/* Walk ``depth`` levels of folders below ``fd`` (owned: closed here), probing each leaf folder. */
static int walk(Out *o, int fd, char *name, size_t name_len, int depth, const char *leaf, int read_it, size_t limit,
                Buf *buf, char **only) {
    Dir dirs = {fd, malloc(32768), 0, 0}, *dir = &dirs;
    if (!dirs.data) {
        o->err = ENOMEM;
        close(fd);
        return -1;
    }
    struct linux_dirent64 *d;
    int rc = 0;
    for (;;) {
        errno = 0;
        d = next_entry(dir);
        if (d == NULL) {
            if (dir->len < 0) {
                o->err = errno;
                rc = -1;
            }
            break;
        }
        if (d->d_name[0] == '.' && (!d->d_name[1] || (d->d_name[1] == '.' && !d->d_name[2])))
            continue;
        size_t n = strlen(d->d_name);
        if (name_len + n + 2 > 4096)
            continue;
        if (only && only[0] && strcmp(only[0], "*") != 0 && strcmp(only[0], d->d_name) != 0)
            continue;
        size_t len = name_len;
        if (len)
            name[len++] = '/';
        memcpy(name + len, d->d_name, n);
        len += n;
        name[len] = 0;
        unsigned char type = d->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(dir->fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;  /* gone since the listing */
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
        }
        if (type == DT_LNK) {
            rc = add(o, name, len, 'L', 0, NULL, 0);
        } else if (type == DT_DIR && depth == 1) {
            /* The leaf below this folder, opened in one call from here when openat2 can refuse every
             * symbolic link on the way (the folder itself included); else through the folder. */
            if (openat2_ok) {
                char *leaf_path = name + len + 1;  /* "<entry>/<leaf>" after the name, in the same buffer */
                size_t leaf_len = strlen(leaf);
                if (len + 1 + n + 1 + leaf_len + 1 > 4096)
                    continue;
                memcpy(leaf_path, d->d_name, n);
                leaf_path[n] = '/';
                memcpy(leaf_path + n + 1, leaf, leaf_len + 1);
                rc = probe(o, dir->fd, name, len, leaf_path, read_it, limit, buf);
                name[len] = 0;
            } else {
                int sub = open_at(dir->fd, d->d_name, O_RDONLY | O_DIRECTORY);
                if (sub < 0) {
                    if (errno == ENOENT)
                        continue;
                    if (errno == ELOOP || errno == ENOTDIR)  /* replaced by a symbolic link since the listing */
                        rc = add(o, name, len, 'L', 0, NULL, 0);
                    else
                        o->err = errno, rc = -1;
                } else {
                    rc = probe(o, sub, name, len, leaf, read_it, limit, buf);
                    close(sub);
                }
            }
        } else if (type == DT_DIR && depth >= 3 && only && only[1] && strcmp(only[1], "*") != 0) {
            /* The level below names one folder: "<entry>/<that name>" opened in one call, neither
             * folder listed (a tag's folder holds its current link and its index; only the index is
             * wanted). Missing or not a folder: nothing, as a listing finds nothing below it. */
            size_t m = strlen(only[1]);
            if (len + 1 + m + 1 > 4096)
                continue;
            name[len] = '/';
            memcpy(name + len + 1, only[1], m + 1);
            const char *below = name + name_len + (name_len ? 1 : 0);
            int sub = open_at(dir->fd, below, O_RDONLY | O_DIRECTORY);
            if (sub < 0 && errno == ENOTDIR) {
                /* a file, or a symbolic link (O_DIRECTORY | O_NOFOLLOW on one says ENOTDIR): which one */
                int at = open_at(dir->fd, below, O_PATH);
                int why = at < 0 && (errno == ELOOP || errno == EXDEV) ? ELOOP : ENOTDIR;
                struct stat st;
                if (at >= 0) {
                    if (fstat(at, &st) == 0 && S_ISLNK(st.st_mode))
                        why = ELOOP;
                    close(at);
                }
                errno = why;
            }
            if (sub < 0) {
                if (errno == ELOOP || errno == EXDEV)  /* the entry or the named folder: a symbolic link */
                    rc = add(o, name, len + 1 + m, 'L', 0, NULL, 0);
                else if (errno != ENOENT && errno != ENOTDIR)
                    o->err = errno, rc = -1;
            } else {
                rc = walk(o, sub, name, len + 1 + m, depth - 2, leaf, read_it, limit, buf, only + 2);
            }
            name[len] = 0;
        } else if (type == DT_DIR) {
            int sub = open_at(dir->fd, d->d_name, O_RDONLY | O_DIRECTORY);
            if (sub < 0) {
                if (errno == ENOENT)
                    continue;
                if (errno == ELOOP || errno == ENOTDIR) {  /* replaced by a symbolic link since the listing */
                    rc = add(o, name, len, 'L', 0, NULL, 0);
                } else {
                    o->err = errno;
                    rc = -1;
                }
            } else {
                rc = walk(o, sub, name, len, depth - 1, leaf, read_it, limit, buf, only ? only + 1 : NULL);
            }
        }
        /* regular files and others above the leaf folders: distribution's walk passes them by */
        if (rc < 0)
            break;
    }
    free(dirs.data);
    close(fd);
    return rc;
}

/* What Python's ``data.decode(errors="replace").strip()`` gives, without its two calls and the bytes
 * object in between for the usual case: a link of ASCII, stripped of what str.strip() strips there. */
static int ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

static PyObject *text_of(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && !((unsigned char)s[i] & 0x80))
        i++;
    if (i < n) {  /* not ASCII: Python's own decode and strip */
        PyObject *u = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
        if (!u)
            return NULL;
        PyObject *t = PyObject_CallMethod(u, "strip", NULL);
        Py_DECREF(u);
        if (t && PyUnicode_CheckExact(t))
            PyUnicode_InternInPlace(&t);
        return t;
    }
    size_t a = 0, b = n;
    while (a < b && ascii_space((unsigned char)s[a]))
        a++;
    while (b > a && ascii_space((unsigned char)s[b - 1]))
        b--;
    /* Interned: one str object per digest however many links name it (a million links name a few
     * hundred thousand digests), found in C rather than through a dict call per link in Python. */
    PyObject *t = PyUnicode_DecodeASCII(s + a, (Py_ssize_t)(b - a), NULL);
    if (t)
        PyUnicode_InternInPlace(&t);
    return t;
}

/* The walk of ``rel`` below dirfd that scan() and links() share, without the GIL: 0 walked, 1 when rel
 * does not exist, -1 with a Python exception set (the OSError of an error, or out of memory). */
static int run(Out *o, int dirfd_, const char *rel, int depth, const char *leaf, int read_it, size_t limit,
               char **only) {
    char *name = malloc(4096);
    Buf buf = {0};
    int rc = 0, missing = 0;
    if (!name) {
        PyErr_NoMemory();
        return -1;
    }
    Py_BEGIN_ALLOW_THREADS
    int fd = open_at(dirfd_, rel, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        if (errno == ENOENT)  /* ENOTDIR, ELOOP: a symbolic link or a file on the way, raised */
            missing = 1;
        else
            o->err = errno, rc = -1;
    } else if (depth == 0) {
        rc = probe(o, fd, "", 0, leaf, read_it, limit, &buf);
        close(fd);
    } else {
        name[0] = 0;
        rc = walk(o, fd, name, 0, depth, leaf, read_it, limit, &buf, only);
    }
    Py_END_ALLOW_THREADS
    free(name);
    free(buf.data);
    if (rc < 0) {
        errno = o->err;
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, rel);
        return -1;
    }
    return missing;
}

static PyObject *scan(PyObject *Py_UNUSED(self), PyObject *args) {
    int dirfd_, depth, read_it;
    const char *rel, *leaf, *pattern = "";
    Py_ssize_t rel_len, leaf_len, limit, pattern_len = 0;
    if (!PyArg_ParseTuple(args, "iy#iy#in|y#", &dirfd_, &rel, &rel_len, &depth, &leaf, &leaf_len, &read_it, &limit,
                          &pattern, &pattern_len))
        return NULL;
    if (depth < 0 || depth > 16 || limit < 0 || limit > (64 << 20) || read_it < 0 || read_it > 2) {
        PyErr_SetString(PyExc_ValueError, "depth must be within 0..16, read 0, 1 or 2 and limit within 0..64 MiB");
        return NULL;
    }
    /* the pattern split into its names, one per level (NULL past its end: any name) */
    char patbuf[4096], *only[18] = {0};
    if (pattern_len) {
        if ((size_t)pattern_len >= sizeof patbuf) {
            PyErr_SetString(PyExc_ValueError, "only: too long");
            return NULL;
        }
        memcpy(patbuf, pattern, (size_t)pattern_len);
        patbuf[pattern_len] = 0;
        int level = 0;
        for (char *p = patbuf; p && level < 17; level++) {
            only[level] = p;
            p = strchr(p, '/');
            if (p)
                *p++ = 0;
        }
    }
    Out o = {0};
    int rc = run(&o, dirfd_, rel, depth, leaf, read_it, (size_t)limit, pattern_len ? only : NULL);
    PyObject *result = NULL;
    if (rc != 0) {  /* -1: raised; 1: missing */
        if (rc > 0)
            result = Py_NewRef(Py_None);
        goto done;
    }
    size_t count = o.entries.len / sizeof(Entry);
    result = PyList_New((Py_ssize_t)count);
    if (!result)
        goto done;
    for (size_t i = 0; i < count; i++) {
        Entry e;
        memcpy(&e, o.entries.data + i * sizeof e, sizeof e);
        PyObject *nm = PyUnicode_DecodeFSDefaultAndSize(o.names.data + e.name_off, (Py_ssize_t)e.name_len);
        PyObject *value = e.code != 'f' || !read_it ? PyLong_FromLongLong(e.size)
                          : read_it == 2 ? text_of(o.values.data + e.value_off, e.value_len)
                                         : PyBytes_FromStringAndSize(o.values.data + e.value_off, (Py_ssize_t)e.value_len);
        PyObject *code = PyUnicode_FromOrdinal(e.code);
        PyObject *item = (nm && value && code) ? PyTuple_New(3) : NULL;
        if (!item) {
            Py_XDECREF(nm);
            Py_XDECREF(value);
            Py_XDECREF(code);
            Py_CLEAR(result);
            goto done;
        }
        PyTuple_SET_ITEM(item, 0, nm);
        PyTuple_SET_ITEM(item, 1, code);
        PyTuple_SET_ITEM(item, 2, value);
        PyList_SET_ITEM(result, (Py_ssize_t)i, item);
    }
done:
    free(o.names.data);
    free(o.values.data);
    free(o.entries.data);
    return result;
}

/* read(dirfd, paths: list[bytes], limit) -> [(code, bytes or size)]: each file (a manifest's data), as scan's leaves. */
static PyObject *read_files(PyObject *Py_UNUSED(self), PyObject *args) {
    int dirfd_;
    PyObject *paths;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "iO!n", &dirfd_, &PyList_Type, &paths, &limit))
        return NULL;
    if (limit < 0 || limit > (64 << 20)) {
        PyErr_SetString(PyExc_ValueError, "limit must be within 0..64 MiB");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(paths);
    char **copies = calloc((size_t)count + 1, sizeof(char *));
    if (!copies)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(paths, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "paths must be bytes");
            goto fail;
        }
        copies[i] = strdup(PyBytes_AS_STRING(item));
        if (!copies[i]) {
            PyErr_NoMemory();
            goto fail;
        }
    }
    Out o = {0};
    Buf buf = {0};
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count && rc == 0; i++)
        rc = probe(&o, dirfd_, "", 0, copies[i], 1, (size_t)limit, &buf);
    Py_END_ALLOW_THREADS
    free(buf.data);
    PyObject *result = NULL;
    if (rc < 0) {
        errno = o.err;
        PyErr_SetFromErrno(PyExc_OSError);
    } else if ((result = PyList_New(count)) != NULL) {
        for (Py_ssize_t i = 0; i < count; i++) {
            Entry e;
            memcpy(&e, o.entries.data + (size_t)i * sizeof e, sizeof e);
            PyObject *value = e.code == 'f' ? PyBytes_FromStringAndSize(o.values.data + e.value_off,
                                                                        (Py_ssize_t)e.value_len)
                                            : PyLong_FromLongLong(e.size);
            PyObject *code = PyUnicode_FromOrdinal(e.code);
            PyObject *item = (value && code) ? PyTuple_New(2) : NULL;
            if (!item) {
                Py_XDECREF(value);
                Py_XDECREF(code);
                Py_CLEAR(result);
                break;
            }
            PyTuple_SET_ITEM(item, 0, code);
            PyTuple_SET_ITEM(item, 1, value);
            PyList_SET_ITEM(result, i, item);
        }
    }
    free(o.names.data);
    free(o.values.data);
    free(o.entries.data);
    for (Py_ssize_t i = 0; i < count; i++)
        free(copies[i]);
    free(copies);
    return result;
fail:
    for (Py_ssize_t i = 0; i < count; i++)
        free(copies[i]);
    free(copies);
    return NULL;
}

static int by_name(const void *a, const void *b, void *names) {
    const Entry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp((char *)names + x->name_off, (char *)names + y->name_off, n);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* links(dirfd, rel, limit) -> (texts, files, odd) or None: what scan(dirfd, rel, 2, b"link", 2, limit)
 * finds, made in C what the audit keeps of it: ``texts`` what each regular, non-empty link holds (text,
 * interned) in path order; ``files`` how many regular files were read; ``odd`` the (name, code) of
 * the symbolic links met ('L', 'l'), in the order met. ``texts`` is None when a name is not ASCII:
 * Python's order of such names (str, surrogateescape) is not their bytes' order, so the caller sorts
 * scan()'s tuples itself. Errors as scan()'s. */
static PyObject *links(PyObject *Py_UNUSED(self), PyObject *args) {
    int dirfd_;
    const char *rel;
    Py_ssize_t rel_len, limit;
    if (!PyArg_ParseTuple(args, "iy#n", &dirfd_, &rel, &rel_len, &limit))
        return NULL;
    if (limit < 0 || limit > (64 << 20)) {
        PyErr_SetString(PyExc_ValueError, "limit must be within 0..64 MiB");
        return NULL;
    }
    Out o = {0};
    int rc = run(&o, dirfd_, rel, 2, "link", 2, (size_t)limit, NULL);
    PyObject *result = NULL, *texts = NULL, *odd = NULL;
    if (rc != 0) {  /* -1: raised; 1: missing */
        if (rc > 0)
            result = Py_NewRef(Py_None);
        goto done;
    }
    size_t count = o.entries.len / sizeof(Entry);
    Entry *entries = (Entry *)o.entries.data;
    Py_ssize_t files = 0;
    int ascii = 1;
    if (!(odd = PyList_New(0)))
        goto done;
    for (size_t i = 0; i < count; i++) {
        Entry *e = &entries[i];
        for (size_t k = 0; k < e->name_len && ascii; k++)
            ascii = !((unsigned char)o.names.data[e->name_off + k] & 0x80);
        if (e->code == 'f')
            files++;
        if (e->code == 'L' || e->code == 'l') {
            PyObject *item = Py_BuildValue("(NC)", PyUnicode_DecodeFSDefaultAndSize(o.names.data + e->name_off,
                                                                                    (Py_ssize_t)e->name_len),
                                           (int)e->code);
            if (!item || PyList_Append(odd, item) < 0) {
                Py_XDECREF(item);
                goto done;
            }
            Py_DECREF(item);
        }
    }
    if (!ascii) {
        texts = Py_None;
        Py_INCREF(texts);
    } else {
        if (count > 1)
            qsort_r(entries, count, sizeof(Entry), by_name, o.names.data);
        if (!(texts = PyList_New(0)))
            goto done;
        for (size_t i = 0; i < count; i++) {
            Entry *e = &entries[i];
            if (e->code != 'f')
                continue;
            PyObject *text = text_of(o.values.data + e->value_off, e->value_len);
            if (!text)
                goto done;
            if (PyUnicode_GET_LENGTH(text) > 0 && PyList_Append(texts, text) < 0) {
                Py_DECREF(text);
                goto done;
            }
            Py_DECREF(text);
        }
    }
    result = Py_BuildValue("(OnO)", texts, files, odd);
done:
    Py_XDECREF(texts);
    Py_XDECREF(odd);
    free(o.names.data);
    free(o.values.data);
    free(o.entries.data);
    return result;
}

static PyMethodDef methods[] = {
    {"links", links, METH_VARARGS,
     "links(dirfd, rel, limit) -> (texts, files, odd) or None: the <alg>/<hex>/link files below rel (see the "
     "module's source)"},
    {"read", read_files, METH_VARARGS,
     "read(dirfd, paths, limit) -> [(code, bytes or size)] for each path below dirfd (see the module's source)"},
    {"scan", scan, METH_VARARGS,
     "scan(dirfd, rel, depth, leaf, read, limit, only=b'') -> [(name, code, bytes, text or size)] or None (see the "
     "module's source)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_storagescan", NULL, -1, methods, NULL, NULL, NULL,
                                   NULL};

PyMODINIT_FUNC PyInit__storagescan(void) { return PyModule_Create(&module); }
