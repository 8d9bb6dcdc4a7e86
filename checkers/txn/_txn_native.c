/* The native core of the transactional checker (checkers/txn): the cheap test that settles a valid history.
 *
 * Private module. Contract of
 *   peel(adj, events) -> list of ints
 * ``adj`` is the dependency graph as checkers/txn/graph.py keeps it: a list of n dicts, ``adj[a]`` mapping each
 * successor b (an int in 0..n-1) to its edge kinds. ``events`` is None or the real-time sequence
 * checkers/txn/txns.py ``collect`` records: a transaction's id at its invoke, ``~id`` at its ok completion. With
 * it, the real-time edges that checkers/txn/orders.py ``add_realtime_edges`` would add (the transitive reduction
 * kept by a frontier sweep) count as edges too, without being added to ``adj``.
 *
 * Returns the nodes left, in increasing order, after repeatedly removing nodes with no incoming edge: exactly
 * what graph.py ``cyclic_part(adj, ALL)`` returns for ``adj`` with those real-time edges added. Every cycle lies
 * in it; an acyclic graph leaves nothing. Raises TypeError/ValueError on a graph of another shape.
 *
 * Why native: on a valid history this test and the real-time edges are a third of the check's time in Python
 * (dict updates per edge); here they are a few percent.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    int32_t *v;
    size_t len, cap;
} ivec;

static int ivec_push(ivec *a, int32_t x) {
    if (a->len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        int32_t *v = realloc(a->v, cap * sizeof(int32_t));
        if (!v)
            return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->len++] = x;
    return 0;
}

/* A node id out of a Python int; -1 with an exception set when it is not one in 0..n-1. */
static int32_t node_id(PyObject *o, Py_ssize_t n) {
    long x = PyLong_AsLong(o);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (x < 0 || x >= n) {
        PyErr_Format(PyExc_ValueError, "edge to %ld: not a transaction id (0..%zd)", x, n - 1);
        return -1;
    }
    return (int32_t)x;
}

/* The real-time edges (src[i] -> dst[i]) of the frontier sweep; per transaction its incoming ones are contiguous
 * (added at its invoke): in_off/in_len. */
static int realtime_edges(PyObject *events, Py_ssize_t n, ivec *src, ivec *dst) {
    int rc = -1;
    int32_t *front = malloc((n ? n : 1) * sizeof(int32_t));   /* the frontier, unordered */
    int32_t *where = malloc((n ? n : 1) * sizeof(int32_t));   /* node -> its place in front, or -1 */
    int64_t *in_off = calloc(n ? n : 1, sizeof(int64_t));
    int32_t *in_len = calloc(n ? n : 1, sizeof(int32_t));
    PyObject *seq = PySequence_Fast(events, "events must be a sequence of ints");
    if (!front || !where || !in_off || !in_len || !seq) {
        if (seq)
            PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        where[i] = -1;
    Py_ssize_t nf = 0, m = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < m; i++) {
        long x = PyLong_AsLong(items[i]);
        if (x == -1 && PyErr_Occurred())
            goto done;
        long t = x >= 0 ? x : ~x;
        if (t >= n) {
            PyErr_Format(PyExc_ValueError, "event %ld: not a transaction id", x);
            goto done;
        }
        if (x >= 0) {
            in_off[t] = (int64_t)src->len;
            in_len[t] = (int32_t)nf;
            for (Py_ssize_t j = 0; j < nf; j++)
                if (ivec_push(src, front[j]) || ivec_push(dst, (int32_t)t)) {
                    PyErr_NoMemory();
                    goto done;
                }
        } else {
            /* its real-time predecessors leave the frontier (a later invoke follows them through t) */
            for (int64_t j = in_off[t]; j < in_off[t] + in_len[t]; j++) {
                int32_t p = src->v[j];
                int32_t at = where[p];
                if (at >= 0) {
                    int32_t last = front[--nf];
                    front[at] = last;
                    where[last] = at;
                    where[p] = -1;
                }
            }
            if (where[t] < 0) {
                where[t] = (int32_t)nf;
                front[nf++] = (int32_t)t;
            }
        }
    }
    rc = 0;
done:
    Py_XDECREF(seq);
    free(front);
    free(where);
    free(in_off);
    free(in_len);
    return rc;
}

static PyObject *peel(PyObject *self, PyObject *args) {
    PyObject *adj, *events, *out = NULL;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &adj, &events))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(adj);
    if (n >= INT32_MAX)
        return PyErr_Format(PyExc_ValueError, "too many transactions (%zd)", n);
    Py_ssize_t e = 0;
    for (Py_ssize_t a = 0; a < n; a++) {
        PyObject *d = PyList_GET_ITEM(adj, a);
        if (!PyDict_Check(d))
            return PyErr_Format(PyExc_TypeError, "adj[%zd] is not a dict", a);
        e += PyDict_GET_SIZE(d);
    }
    ivec rsrc = {0}, rdst = {0};
    int64_t *off = malloc((n + 1) * sizeof(int64_t)), *roff = calloc(n + 1, sizeof(int64_t));
    int32_t *tgt = malloc((e ? e : 1) * sizeof(int32_t)), *rtgt = NULL;
    int32_t *indeg = calloc(n ? n : 1, sizeof(int32_t)), *stack = malloc((n ? n : 1) * sizeof(int32_t));
    if (!off || !roff || !tgt || !indeg || !stack) {
        PyErr_NoMemory();
        goto done;
    }
    /* the graph's edges, compressed: tgt[off[a] .. off[a + 1]] */
    Py_ssize_t k = 0;
    for (Py_ssize_t a = 0; a < n; a++) {
        PyObject *d = PyList_GET_ITEM(adj, a), *key, *val;
        Py_ssize_t pos = 0;
        off[a] = k;
        while (PyDict_Next(d, &pos, &key, &val)) {
            int32_t b = node_id(key, n);
            if (b < 0)
                goto done;
            tgt[k++] = b;
            indeg[b]++;
        }
    }
    off[n] = k;
    /* the real-time edges, compressed the same way */
    if (events != Py_None) {
        if (realtime_edges(events, n, &rsrc, &rdst))
            goto done;
        rtgt = malloc((rsrc.len ? rsrc.len : 1) * sizeof(int32_t));
        if (!rtgt) {
            PyErr_NoMemory();
            goto done;
        }
        for (size_t i = 0; i < rsrc.len; i++)
            roff[rsrc.v[i] + 1]++;
        for (Py_ssize_t a = 0; a < n; a++)
            roff[a + 1] += roff[a];
        for (size_t i = 0; i < rsrc.len; i++) {
            rtgt[roff[rsrc.v[i]]++] = rdst.v[i];
            indeg[rdst.v[i]]++;
        }
        for (Py_ssize_t a = n; a > 0; a--)  /* roff[a] was advanced to the end of a's edges: shift back */
            roff[a] = roff[a - 1];
        roff[0] = 0;
    }
    /* peel */
    Py_ssize_t top = 0;
    for (Py_ssize_t a = 0; a < n; a++)
        if (!indeg[a])
            stack[top++] = (int32_t)a;
    while (top) {
        int32_t a = stack[--top];
        for (int64_t i = off[a]; i < off[a + 1]; i++)
            if (!--indeg[tgt[i]])
                stack[top++] = tgt[i];
        if (rtgt)
            for (int64_t i = roff[a]; i < roff[a + 1]; i++)
                if (!--indeg[rtgt[i]])
                    stack[top++] = rtgt[i];
    }
    out = PyList_New(0);
    if (!out)
        goto done;
    for (Py_ssize_t a = 0; a < n; a++) {
        if (indeg[a] > 0) {
            PyObject *x = PyLong_FromSsize_t(a);
            if (!x || PyList_Append(out, x)) {
                Py_XDECREF(x);
                Py_CLEAR(out);
                goto done;
            }
            Py_DECREF(x);
        }
    }
done:
    free(off);
    free(roff);
    free(tgt);
    free(rtgt);
    free(indeg);
    free(stack);
    free(rsrc.v);
    free(rdst.v);
    return out;
}

static PyMethodDef methods[] = {
    {"peel", peel, METH_VARARGS,
     "peel(adj, events) -> the nodes left after repeatedly removing those with no incoming edge, counting the "
     "real-time edges of events too (see the module source)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_txn_native",
                                    "Native core of the transactional checker's acyclicity test.", -1, methods};

PyMODINIT_FUNC PyInit__txn_native(void) { return PyModule_Create(&module); }
