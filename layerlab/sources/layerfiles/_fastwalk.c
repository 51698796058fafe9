/*
 * layerlab.sources._fastwalk: walk a layer directory and return its entries as packed columns.
 *
 * Written by hand because no well-kept library returns a directory walk's stat fields as arrays:
 * os.scandir and scandir-rs both make a Python object per entry, and that per-entry cost is what
 * kept the inventory at about twice find's time. This walker makes no Python object per entry at
 * all: it fills C buffers with the GIL released (so several layers are walked at once on several
 * cores), and hands them over as a few bytes objects that numpy and Arrow read without copying.
 * layerlab.sources.layerfiles.walk._scan gives the same result in Python; it stays as the fallback
 * and the reference the tests compare this with.
 *
 * walk(root: bytes, overlay: bool, markers: bool) -> (
 *     stats: bytes,        int64 mode, size, uid, gid, mtime (µs, floored), blocks of each entry, one after the other
 *     path_data: bytes,    every entry's path below root ("/etc/passwd"), one after the other
 *     path_offsets: bytes, int64 start of each path in path_data, and the end (entries + 1 values)
 *     link_index: bytes,   int64 index of each symbolic link
 *     link_data: bytes, link_offsets: bytes,  their targets, as the paths are
 *     opaque: bytes,       int64 indexes of directories with overlay's opaque xattr (overlay only)
 *     named: bytes,        int64 indexes of entries named .wh.* (markers only)
 *     inodes: bytes,       int64 (index, dev, ino) of regular files with several links
 *     rdevs: bytes)        int64 (index, rdev) of character devices
 * Entries come in the order of a depth-first walk that takes the last directory found first; each
 * directory's entries in readdir order. Read-only: directories are opened O_RDONLY (O_NOATIME
 * where allowed), nothing is written.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE /* mremap */
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* A growable byte buffer in pages of its own (mmap, grown by mremap): growing never copies, pages
 * not yet written take no memory, and freeing gives the memory back to the system at once (malloc
 * would keep it in the walking thread's arena, and a scan's peak memory would grow by it). */
typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t more) {
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + more)
        cap *= 2;
    void *data = b->data ? mremap(b->data, b->cap, cap, MREMAP_MAYMOVE)
                         : mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

static void buf_free(Buf *b) {
    if (b->data)
        munmap(b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int buf_put(Buf *b, const void *src, size_t n) {
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

static int buf_int(Buf *b, int64_t v) { return buf_put(b, &v, sizeof v); }

static int64_t buf_int_at(const Buf *b, size_t i) {
    int64_t v;
    memcpy(&v, b->data + i * sizeof v, sizeof v);
    return v;
}

typedef struct {
    Buf stats, path_data, path_off, link_index, link_data, link_off, opaque, named, inodes, rdevs, stack;
    /* The error, raised once the GIL is back: errno (or ENOMEM) and the path it concerns. */
    int err;
    char *err_path;
} Walk;

static void walk_free(Walk *w) {
    Buf *bufs[] = {&w->stats, &w->path_data, &w->path_off, &w->link_index, &w->link_data, &w->link_off,
                   &w->opaque, &w->named, &w->inodes, &w->rdevs, &w->stack};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        buf_free(bufs[k]);
    free(w->err_path);
}

static int open_dir(const char *path) {
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW;
#ifdef O_NOATIME
    int fd = open(path, flags | O_NOATIME);
    if (fd >= 0 || errno != EPERM)
        return fd;
#endif
    return open(path, flags);
}

static int is_opaque(int fd) {
    static const char *names[] = {"trusted.overlay.opaque", "user.overlay.opaque"};
    char value[2], list[256];
    /* One flistxattr answers for most directories (they have no attribute at all): half the calls of
       asking for both names. A long list (ERANGE) or any attribute: the names are asked for. */
    if (flistxattr(fd, list, sizeof list) == 0)
        return 0;
    for (int k = 0; k < 2; k++) {
        ssize_t n = fgetxattr(fd, names[k], value, sizeof value);
        if (n == 1 && value[0] == 'y')
            return 1;
    }
    return 0;
}

static void fail(Walk *w, int err, const char *dir, size_t dir_len, const char *name) {
    w->err = err;
    size_t n = dir_len + (name ? strlen(name) + 1 : 0) + 1;
    w->err_path = malloc(n);
    if (w->err_path) {
        memcpy(w->err_path, dir, dir_len);
        w->err_path[dir_len] = 0;
        if (name) {
            w->err_path[dir_len] = '/';
            strcpy(w->err_path + dir_len + 1, name);
        }
    }
}

/* The walk itself, run without the GIL; 0, or -1 with w->err set. */
static int run(Walk *w, const char *root, int overlay, int markers) {
    size_t root_len = strlen(root);
    size_t dir_cap = root_len + 4096;
    char *dir = malloc(dir_cap);
    if (!dir || buf_int(&w->path_off, 0) < 0 || buf_int(&w->stack, -1) < 0) {
        free(dir);
        w->err = ENOMEM;
        return -1;
    }
    memcpy(dir, root, root_len);
    while (w->stack.len) {
        w->stack.len -= sizeof(int64_t);
        int64_t dir_index = buf_int_at(&w->stack, w->stack.len / sizeof(int64_t));
        /* The directory's path below root is its entry's path (nothing for root itself). */
        size_t rel_start = 0, rel_len = 0;
        if (dir_index >= 0) {
            rel_start = (size_t)buf_int_at(&w->path_off, (size_t)dir_index);
            rel_len = (size_t)buf_int_at(&w->path_off, (size_t)dir_index + 1) - rel_start;
        }
        size_t dir_len = root_len + rel_len;
        if (dir_len + 1 > dir_cap) {
            dir_cap = dir_len + 4096;
            char *bigger = realloc(dir, dir_cap);
            if (!bigger) {
                free(dir);
                w->err = ENOMEM;
                return -1;
            }
            dir = bigger;
        }
        memcpy(dir + root_len, w->path_data.data + rel_start, rel_len);
        dir[dir_len] = 0;

        int fd = open_dir(dir);
        if (fd < 0) {
            fail(w, errno, dir, dir_len, NULL);
            free(dir);
            return -1;
        }
        if (overlay && dir_index >= 0 && is_opaque(fd) && buf_int(&w->opaque, dir_index) < 0) {
            close(fd);
            free(dir);
            w->err = ENOMEM;
            return -1;
        }
        DIR *d = fdopendir(fd);
        if (!d) {
            fail(w, errno, dir, dir_len, NULL);
            close(fd);
            free(dir);
            return -1;
        }
        struct dirent *ent;
        int failed = 0;
        errno = 0;
        while ((ent = readdir(d)) != NULL) {
            const char *name = ent->d_name;
            if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
                continue;
            struct stat st;
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) {
                    errno = 0;
                    continue; /* removed while we read the directory */
                }
                fail(w, errno, dir, dir_len, name);
                failed = 1;
                break;
            }
            int64_t i = (int64_t)(w->path_off.len / sizeof(int64_t)) - 1;
            size_t name_len = strlen(name);
            /* This entry's path: its directory's path (copied from path_data), "/", its name. */
            if (buf_reserve(&w->path_data, rel_len + 1 + name_len) < 0)
                goto nomem;
            memcpy(w->path_data.data + w->path_data.len, w->path_data.data + rel_start, rel_len);
            w->path_data.len += rel_len;
            w->path_data.data[w->path_data.len++] = '/';
            memcpy(w->path_data.data + w->path_data.len, name, name_len);
            w->path_data.len += name_len;
            int64_t row[6] = {st.st_mode, st.st_size, st.st_uid, st.st_gid,
                              (int64_t)st.st_mtim.tv_sec * 1000000LL + st.st_mtim.tv_nsec / 1000, st.st_blocks};
            if (buf_int(&w->path_off, (int64_t)w->path_data.len) < 0 || buf_put(&w->stats, row, sizeof row) < 0)
                goto nomem;
            switch (st.st_mode & S_IFMT) {
            case S_IFREG:
                if (st.st_nlink > 1) {
                    int64_t key[3] = {i, (int64_t)st.st_dev, (int64_t)st.st_ino};
                    if (buf_put(&w->inodes, key, sizeof key) < 0)
                        goto nomem;
                }
                break;
            case S_IFDIR:
                if (buf_int(&w->stack, i) < 0)
                    goto nomem;
                break;
            case S_IFLNK: {
                char target[PATH_MAX + 1];
                ssize_t n = readlinkat(fd, name, target, PATH_MAX);
                if (n < 0) {
                    fail(w, errno, dir, dir_len, name);
                    failed = 1;
                    break;
                }
                if (buf_int(&w->link_index, i) < 0 || buf_put(&w->link_data, target, (size_t)n) < 0 ||
                    buf_int(&w->link_off, (int64_t)w->link_data.len) < 0)
                    goto nomem;
                break;
            }
            case S_IFCHR: {
                int64_t pair[2] = {i, (int64_t)st.st_rdev};
                if (buf_put(&w->rdevs, pair, sizeof pair) < 0)
                    goto nomem;
                break;
            }
            }
            if (failed)
                break;
            if (markers && strncmp(name, ".wh.", 4) == 0 && buf_int(&w->named, i) < 0)
                goto nomem;
            /* path_data may have moved: the directory's own path is read from it again */
            errno = 0;
            continue;
        nomem:
            w->err = ENOMEM;
            failed = 1;
            break;
        }
        if (!failed && errno != 0) {
            fail(w, errno, dir, dir_len, NULL);
            failed = 1;
        }
        closedir(d);
        if (failed) {
            free(dir);
            return -1;
        }
    }
    free(dir);
    return 0;
}

static PyObject *as_bytes(const Buf *b) { return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len); }

static PyObject *walk(PyObject *self, PyObject *args) {
    PyObject *root;
    int overlay, markers;
    if (!PyArg_ParseTuple(args, "O!pp", &PyBytes_Type, &root, &overlay, &markers))
        return NULL;
    Walk w;
    memset(&w, 0, sizeof w);
    int rc;
    const char *root_s = PyBytes_AS_STRING(root);
    Py_INCREF(root);
    Py_BEGIN_ALLOW_THREADS
    rc = run(&w, root_s, overlay, markers);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (rc < 0) {
        if (w.err == ENOMEM || !w.err_path) {
            errno = w.err ? w.err : ENOMEM;
            PyErr_SetFromErrno(w.err == ENOMEM ? PyExc_MemoryError : PyExc_OSError);
        } else {
            PyObject *path = PyBytes_FromString(w.err_path);
            errno = w.err;
            if (path)
                PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
            Py_XDECREF(path);
        }
    } else {
        /* link_off holds only the ends: its start (0) is added here */
        Buf link_off = {0};
        if (buf_int(&link_off, 0) == 0 && buf_put(&link_off, w.link_off.data ? w.link_off.data : "", w.link_off.len) == 0)
            result = Py_BuildValue("(NNNNNNNNNN)", as_bytes(&w.stats), as_bytes(&w.path_data), as_bytes(&w.path_off),
                                   as_bytes(&w.link_index), as_bytes(&w.link_data), as_bytes(&link_off),
                                   as_bytes(&w.opaque), as_bytes(&w.named), as_bytes(&w.inodes), as_bytes(&w.rdevs));
        else
            PyErr_NoMemory();
        buf_free(&link_off);
    }
    Py_DECREF(root);
    walk_free(&w);
    return result;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "walk(root: bytes, overlay: bool, markers: bool) -> packed columns of the tree's entries"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastwalk", "Directory walk into packed columns.", -1, methods};

PyMODINIT_FUNC PyInit__fastwalk(void) {
    PyObject *m = PyModule_Create(&module);
    /* the unit of the mtimes it returns: a build of older source (nanoseconds) is not used */
    if (m && PyModule_AddStringConstant(m, "MTIME_UNIT", "us") < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
