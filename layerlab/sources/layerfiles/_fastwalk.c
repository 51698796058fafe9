/*
 * layerlab.sources._fastwalk: walk a layer directory and return its entries as columns.
 *
 * Written by hand because no well-kept library returns a directory walk's stat fields as arrays:
 * os.scandir and scandir-rs both make a Python object per entry, and that per-entry cost is what
 * kept the inventory at about twice find's time. The result has exactly the shape of
 * layerlab.sources.walk._scan (see there), which stays as the fallback and the reference the tests
 * compare this with.
 *
 * walk(root: bytes, overlay: bool, markers: bool) ->
 *     (paths: list[str], stats: bytes, links: dict[int, str], opaque: list[int], named: list[int],
 *      inodes: dict[int, tuple[int, int]], rdevs: dict[int, int])
 * stats holds, per entry, int64 mode, size, uid, gid, mtime_ns, blocks.
 * Read-only: directories are opened O_RDONLY (O_NOATIME where allowed), nothing is written.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NCOLS 6

typedef struct {
    int64_t *data;
    size_t len, cap;
} Stats;

static int stats_push(Stats *s, const struct stat *st) {
    if (s->len + NCOLS > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1 << 16;
        int64_t *data = PyMem_Realloc(s->data, cap * sizeof(int64_t));
        if (!data) {
            PyErr_NoMemory();
            return -1;
        }
        s->data = data;
        s->cap = cap;
    }
    int64_t *row = s->data + s->len;
    row[0] = st->st_mode;
    row[1] = st->st_size;
    row[2] = st->st_uid;
    row[3] = st->st_gid;
    row[4] = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    row[5] = st->st_blocks;
    s->len += NCOLS;
    return 0;
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
    char value[2];
    for (int k = 0; k < 2; k++) {
        ssize_t n = fgetxattr(fd, names[k], value, sizeof value);
        if (n == 1 && value[0] == 'y')
            return 1;
    }
    return 0;
}

/* d[key] = value, stealing the new references; -1 on error. */
static int set_item(PyObject *d, Py_ssize_t key, PyObject *value) {
    PyObject *k = PyLong_FromSsize_t(key);
    if (!k || !value) {
        Py_XDECREF(k);
        Py_XDECREF(value);
        return -1;
    }
    int rc = PyDict_SetItem(d, k, value);
    Py_DECREF(k);
    Py_DECREF(value);
    return rc;
}

static int append_index(PyObject *list, Py_ssize_t i) {
    PyObject *v = PyLong_FromSsize_t(i);
    if (!v)
        return -1;
    int rc = PyList_Append(list, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *walk(PyObject *self, PyObject *args) {
    PyObject *root;
    int overlay, markers;
    if (!PyArg_ParseTuple(args, "O!pp", &PyBytes_Type, &root, &overlay, &markers))
        return NULL;

    Stats stats = {NULL, 0, 0};
    PyObject *paths = PyList_New(0), *links = PyDict_New(), *opaque = PyList_New(0);
    PyObject *named = PyList_New(0), *inodes = PyDict_New(), *rdevs = PyDict_New();
    PyObject *stack = PyList_New(0), *result = NULL, *empty = PyUnicode_FromString("");
    if (!paths || !links || !opaque || !named || !inodes || !rdevs || !stack || !empty)
        goto done;
    {
        PyObject *top = Py_BuildValue("(OOn)", root, empty, (Py_ssize_t)-1);
        if (!top || PyList_Append(stack, top) < 0) {
            Py_XDECREF(top);
            goto done;
        }
        Py_DECREF(top);
    }

    while (PyList_GET_SIZE(stack) > 0) {
        Py_ssize_t last = PyList_GET_SIZE(stack) - 1;
        PyObject *item = PyList_GET_ITEM(stack, last);
        Py_INCREF(item);
        if (PyList_SetSlice(stack, last, last + 1, NULL) < 0) {
            Py_DECREF(item);
            goto done;
        }
        PyObject *dir_b = PyTuple_GET_ITEM(item, 0), *prefix = PyTuple_GET_ITEM(item, 1);
        Py_ssize_t dir_index = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 2));
        const char *dir_path = PyBytes_AS_STRING(dir_b);

        int fd = open_dir(dir_path);
        if (fd < 0) {
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, dir_b);
            Py_DECREF(item);
            goto done;
        }
        if (overlay && dir_index >= 0 && is_opaque(fd) && append_index(opaque, dir_index) < 0) {
            close(fd);
            Py_DECREF(item);
            goto done;
        }
        DIR *d = fdopendir(fd);
        if (!d) {
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, dir_b);
            close(fd);
            Py_DECREF(item);
            goto done;
        }
        PyObject *slash = PyUnicode_FromFormat("%U/", prefix);
        int failed = slash == NULL;
        struct dirent *ent;
        errno = 0;
        while (!failed && (ent = readdir(d)) != NULL) {
            const char *name = ent->d_name;
            if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
                continue;
            struct stat st;
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT)
                    continue; /* removed while we read the directory */
                PyObject *full = PyBytes_FromFormat("%s/%s", dir_path, name);
                PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, full);
                Py_XDECREF(full);
                failed = 1;
                break;
            }
            size_t name_len = strlen(name);
            PyObject *uname = PyUnicode_DecodeFSDefaultAndSize(name, (Py_ssize_t)name_len);
            PyObject *path = uname ? PyUnicode_Concat(slash, uname) : NULL;
            Py_XDECREF(uname);
            Py_ssize_t i = PyList_GET_SIZE(paths);
            if (!path || PyList_Append(paths, path) < 0 || stats_push(&stats, &st) < 0) {
                Py_XDECREF(path);
                failed = 1;
                break;
            }
            switch (st.st_mode & S_IFMT) {
            case S_IFREG:
                if (st.st_nlink > 1 && set_item(inodes, i, Py_BuildValue("(KK)", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino)) < 0)
                    failed = 1;
                break;
            case S_IFDIR: {
                PyObject *full = PyBytes_FromFormat("%s/%s", dir_path, name);
                PyObject *sub = full ? Py_BuildValue("(OOn)", full, path, i) : NULL;
                Py_XDECREF(full);
                if (!sub || PyList_Append(stack, sub) < 0)
                    failed = 1;
                Py_XDECREF(sub);
                break;
            }
            case S_IFLNK: {
                char target[PATH_MAX + 1];
                ssize_t n = readlinkat(fd, name, target, PATH_MAX);
                if (n < 0) {
                    PyObject *full = PyBytes_FromFormat("%s/%s", dir_path, name);
                    PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, full);
                    Py_XDECREF(full);
                    failed = 1;
                } else if (set_item(links, i, PyUnicode_DecodeFSDefaultAndSize(target, n)) < 0) {
                    failed = 1;
                }
                break;
            }
            case S_IFCHR:
                if (set_item(rdevs, i, PyLong_FromUnsignedLongLong((unsigned long long)st.st_rdev)) < 0)
                    failed = 1;
                break;
            }
            Py_DECREF(path);
            if (!failed && markers && strncmp(name, ".wh.", 4) == 0 && append_index(named, i) < 0)
                failed = 1;
            errno = 0;
        }
        if (!failed && errno != 0) {
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, dir_b);
            failed = 1;
        }
        Py_XDECREF(slash);
        closedir(d);
        Py_DECREF(item);
        if (failed)
            goto done;
    }
    {
        PyObject *buf = PyBytes_FromStringAndSize((const char *)stats.data, (Py_ssize_t)(stats.len * sizeof(int64_t)));
        if (buf)
            result = Py_BuildValue("(NOOOOOO)", buf, paths, links, opaque, named, inodes, rdevs);
    }
done:
    PyMem_Free(stats.data);
    Py_XDECREF(paths);
    Py_XDECREF(links);
    Py_XDECREF(opaque);
    Py_XDECREF(named);
    Py_XDECREF(inodes);
    Py_XDECREF(rdevs);
    Py_XDECREF(stack);
    Py_XDECREF(empty);
    return result;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "walk(root: bytes, overlay: bool, markers: bool) -> columns of the tree's entries"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastwalk", "Directory walk into columns.", -1, methods};

PyMODINIT_FUNC PyInit__fastwalk(void) { return PyModule_Create(&module); }
