/*
 * layerlab.analyses._firstblocks: first blocks of a size group's files, matched by CRC-32, GIL released.
 *
 * Written by hand because the duplicate search's first pass is a short open/read/CRC/close per
 * candidate file, and in Python that per-file cost (not the reading) kept it slower than jdupes.
 * Reads only: files are opened O_RDONLY (O_NOATIME where allowed). The CRC is zlib's.
 *
 * twins(paths: list[bytes], length: int) -> list[tuple[int, int, bytes]]
 *     for one size group: (index, crc32, first bytes) of the files whose CRC another file shares.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

static ssize_t read_first(const char *path, char *buf, size_t block) {
    int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
    int fd = -1;
#ifdef O_NOATIME
    fd = open(path, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
#endif
        fd = open(path, flags);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < block) {
        ssize_t n = read(fd, buf + got, block - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return (ssize_t)got;
}

typedef struct {
    unsigned long crc;
    Py_ssize_t index;
} Entry;

static int by_crc(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    if (x->crc != y->crc)
        return x->crc < y->crc ? -1 : 1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* twins(paths, length) -> [(index, crc, first bytes)] for the files of one size group whose first
 * `length` bytes have the CRC of another file's: the candidates for a full hash. All reading happens
 * with the GIL released; bytes objects are made only for the candidates. */
static PyObject *twins(PyObject *self, PyObject *args) {
    PyObject *paths;
    Py_ssize_t length;
    if (!PyArg_ParseTuple(args, "O!n", &PyList_Type, &paths, &length))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(paths);
    if (length <= 0 || n == 0)
        return PyList_New(0);
    const char **cpaths = PyMem_Malloc(sizeof(char *) * (size_t)n);
    Entry *entries = PyMem_Malloc(sizeof(Entry) * (size_t)n);
    char *data = PyMem_Malloc((size_t)length * (size_t)n);
    ssize_t *got = PyMem_Malloc(sizeof(ssize_t) * (size_t)n);
    if (!cpaths || !entries || !data || !got) {
        PyMem_Free(cpaths); PyMem_Free(entries); PyMem_Free(data); PyMem_Free(got);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PyList_GET_ITEM(paths, i);
        if (!PyBytes_Check(p)) {
            PyMem_Free(cpaths); PyMem_Free(entries); PyMem_Free(data); PyMem_Free(got);
            PyErr_SetString(PyExc_TypeError, "paths must be bytes");
            return NULL;
        }
        cpaths[i] = PyBytes_AS_STRING(p);  /* the list keeps them alive */
    }
    Py_ssize_t readable = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        got[i] = read_first(cpaths[i], data + (size_t)i * (size_t)length, (size_t)length);
        if (got[i] >= 0) {
            entries[readable].crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)(data + (size_t)i * (size_t)length), (uInt)got[i]);
            entries[readable].index = i;
            readable++;
        }
    }
    qsort(entries, (size_t)readable, sizeof(Entry), by_crc);
    Py_END_ALLOW_THREADS
    PyObject *out = PyList_New(0);
    for (Py_ssize_t k = 0; out && k < readable; k++) {
        int twin = (k > 0 && entries[k - 1].crc == entries[k].crc) || (k + 1 < readable && entries[k + 1].crc == entries[k].crc);
        if (!twin)
            continue;
        Py_ssize_t i = entries[k].index;
        PyObject *item = Py_BuildValue("(nky#)", i, entries[k].crc, data + (size_t)i * (size_t)length, (Py_ssize_t)got[i]);
        if (!item || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(item);
    }
    PyMem_Free(cpaths); PyMem_Free(entries); PyMem_Free(data); PyMem_Free(got);
    return out;
}

static PyMethodDef methods[] = {
    {"twins", twins, METH_VARARGS, "twins(paths, length) -> [(index, crc32, first bytes)] of files whose first bytes' CRC another file shares"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_firstblocks", "First blocks of files, GIL released.", -1, methods};

PyMODINIT_FUNC PyInit__firstblocks(void) { return PyModule_Create(&module); }
