/* The native core of the transactional checker (checkers/txn): the cheap test that settles a valid history
 * (``peel``), the two passes of the list-append inference (``append_scan``, ``append_edges``), the rw-register
 * inference's scan and edges (``register_run``) and the pairing of txn ops into transactions (``collect``).
 * Contracts at their definitions below; each does exactly what its Python counterpart in checkers/txn/append.py,
 * register.py or txns.py does, and tests/test_txn_checker.py compares them: change both together.
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
 * (dict updates per edge); here they are a few percent. The list-append passes were about half of the check's
 * time; natively they take about two thirds of that (the rest is memory traffic: touching every micro-op). The
 * rw-register inference was 60% of its check's time in Python and collect 30% of what was left; natively the
 * inference is about four times faster and collect about a third faster (bench/bench_txn.py: the check of
 * 1,000,000 rw-register transactions went from about 146,000 to about 230,000 per second).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- append_scan: the first pass of checkers/txn/append.py AppendInference (its hot loop) ----
 *
 * append_scan(inference, txns, aborted, reads, inter, rmw, FAIL, OK, APPEND, READ) -> bool
 * Does exactly what the Python loop of AppendInference._run does, filling ``inference.appender`` and the given
 * dicts, calling ``inference._not_unique`` and ``inference._reread`` for the rare cases as it does. Returns False,
 * with no exception set, on anything it does not handle as the Python loop would (a micro-op that is not a
 * 3-element list, an unknown micro-op, a read that is not a list, an unhashable key, any error): the caller then
 * starts over in Python from clean state, which raises the right error. */

static int same(PyObject *a, PyObject *b) {  /* a == b as Python says; -1 on error */
    if (a == b)
        return 1;
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

static PyObject *s_id, *s_type, *s_mops, *s_appender, *s_not_unique, *s_reread, *s_appended_to;

/* Reading the same attributes of many objects (the history's ops, the transactions): straight through the class's
 * data descriptors (its slots) for objects of the class the first one is, when that class reads attributes the
 * generic way; else PyObject_GetAttr. The same values, without a descriptor lookup per read. */
#define ATTRS_MAX 6
typedef struct {
    PyTypeObject *tp;  /* NULL: no fast path */
    int n;
    PyObject *names[ATTRS_MAX], *d[ATTRS_MAX];
} attrs;

static void attrs_init(attrs *a, PyObject *first, PyObject *const *names, int n) {
    a->tp = NULL;
    a->n = n;
    for (int i = 0; i < n; i++)
        a->names[i] = names[i];
    if (!first)
        return;
    PyTypeObject *tp = Py_TYPE(first);
    if (tp->tp_getattro != PyObject_GenericGetAttr)
        return;
    for (int i = 0; i < n; i++) {
        PyObject *d = _PyType_Lookup(tp, names[i]);  /* borrowed */
        if (!d || !Py_TYPE(d)->tp_descr_get || !Py_TYPE(d)->tp_descr_set)
            return;
        a->d[i] = d;
    }
    for (int i = 0; i < n; i++)  /* held until attrs_clear, whatever runs meanwhile */
        Py_INCREF(a->d[i]);
    Py_INCREF(tp);
    a->tp = tp;
}

static void attrs_clear(attrs *a) {
    if (!a->tp)
        return;
    for (int i = 0; i < a->n; i++)
        Py_DECREF(a->d[i]);
    Py_DECREF(a->tp);
    a->tp = NULL;
}

/* o.<names[i]>, a new reference; NULL with an exception on error */
static PyObject *attr(attrs *a, PyObject *o, int i) {
    if (Py_TYPE(o) == a->tp)
        return Py_TYPE(a->d[i])->tp_descr_get(a->d[i], o, (PyObject *)a->tp);
    return PyObject_GetAttr(o, a->names[i]);
}

/* the attributes the inferences read of a transaction */
enum { TX_ID, TX_TYPE, TX_MOPS, TX_N };

static void txn_attrs_init(attrs *a, PyObject *txns) {
    PyObject *const names[TX_N] = {s_id, s_type, s_mops};
    attrs_init(a, PyList_GET_SIZE(txns) ? PyList_GET_ITEM(txns, 0) : NULL, names, TX_N);
}

/* d.setdefault(k, factory())  (borrowed) */
static PyObject *setdefault_new(PyObject *d, PyObject *k, PyObject *(*factory)(void)) {
    PyObject *v = PyDict_GetItemWithError(d, k);
    if (v || PyErr_Occurred())
        return v;
    v = factory();
    if (!v)
        return NULL;
    if (PyDict_SetItem(d, k, v)) {
        Py_DECREF(v);
        return NULL;
    }
    Py_DECREF(v);
    return v;
}
static PyObject *new_dict(void) { return PyDict_New(); }
static PyObject *new_set(void) { return PySet_New(NULL); }
static PyObject *new_list(void) { return PyList_New(0); }

/* writers[k][v] = tid (writers: key -> {value: txn id}), first calling inf._not_unique(what, v, k, other, t) when
 * another transaction wrote v to k: what both inferences do per write. -1 on error or a writers of another shape. */
static int record_writer(PyObject *inf, PyObject *t, PyObject *tid, PyObject *writers, PyObject *k, PyObject *v,
                         PyObject *what) {
    PyObject *w = PyDict_GetItemWithError(writers, k);
    if (!w) {
        if (PyErr_Occurred() || !(w = PyDict_New()))
            return -1;
        int e = PyDict_SetItem(w, v, tid) || PyDict_SetItem(writers, k, w);
        Py_DECREF(w);
        return e ? -1 : 0;
    }
    if (!PyDict_CheckExact(w))
        return -1;
    PyObject *prev = PyDict_GetItemWithError(w, v);
    if (!prev && PyErr_Occurred())
        return -1;
    if (prev) {
        int e = same(prev, tid);
        if (e < 0)
            return -1;
        if (!e) {
            PyObject *r = PyObject_CallMethodObjArgs(inf, s_not_unique, what, v, k, prev, t, NULL);
            if (!r)
                return -1;
            Py_DECREF(r);
        }
    }
    return PyDict_SetItem(w, v, tid);
}

/* A failed transaction's writes (micro-ops ``[F, k, x]``): aborted[k][x] = tid. -1 on error or a malformed
 * micro-op. */
static int record_aborted(PyObject *mops, PyObject *tid, PyObject *aborted, PyObject *F) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(mops); i++) {
        PyObject *mop = PyList_GET_ITEM(mops, i);
        if (!PyList_CheckExact(mop) || PyList_GET_SIZE(mop) != 3)
            return -1;
        int e = same(PyList_GET_ITEM(mop, 0), F);
        if (e < 0)
            return -1;
        if (e) {
            PyObject *ak = setdefault_new(aborted, PyList_GET_ITEM(mop, 1), new_dict);
            if (!ak || PyDict_SetItem(ak, PyList_GET_ITEM(mop, 2), tid))
                return -1;
        }
    }
    return 0;
}

/* reads[k] += (r, v) */
static int add_read(PyObject *reads, PyObject *k, PyObject *r, PyObject *v) {
    PyObject *rk = PyDict_GetItemWithError(reads, k);
    if (!rk) {
        if (PyErr_Occurred())
            return -1;
        rk = PyList_New(2);
        if (!rk)
            return -1;
        Py_INCREF(r);
        Py_INCREF(v);
        PyList_SET_ITEM(rk, 0, r);
        PyList_SET_ITEM(rk, 1, v);
        int rc = PyDict_SetItem(reads, k, rk);
        Py_DECREF(rk);
        return rc;
    }
    if (!PyList_CheckExact(rk))
        return -1;
    return PyList_Append(rk, r) || PyList_Append(rk, v) ? -1 : 0;
}

static int scan_txn(PyObject *inf, attrs *ta, PyObject *t, PyObject *aborted, PyObject *reads, PyObject *inter,
                    PyObject *rmw, PyObject *appender, PyObject *FAIL, PyObject *OK, PyObject *APPEND,
                    PyObject *READ) {
    int rc = -1;
    PyObject *tid = NULL, *typ = NULL, *mops = NULL, *state = NULL, *ntid = NULL;
    if (!(tid = attr(ta, t, TX_ID)) || !(typ = attr(ta, t, TX_TYPE)) || !(mops = attr(ta, t, TX_MOPS)))
        goto done;
    if (!PyList_CheckExact(mops) || !PyLong_CheckExact(tid))
        goto done;
    int is_fail = same(typ, FAIL);
    if (is_fail < 0)
        goto done;
    Py_ssize_t m = PyList_GET_SIZE(mops);
    if (is_fail) {
        rc = record_aborted(mops, tid, aborted, APPEND);
        goto done;
    }
    int ok = same(typ, OK);
    if (ok < 0 || !(state = PyDict_New()))
        goto done;
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *mop = PyList_GET_ITEM(mops, i);
        if (!PyList_CheckExact(mop) || PyList_GET_SIZE(mop) != 3)
            goto done;
        PyObject *f = PyList_GET_ITEM(mop, 0), *k = PyList_GET_ITEM(mop, 1), *v = PyList_GET_ITEM(mop, 2);
        int is_append = same(f, APPEND);
        if (is_append < 0)
            goto done;
        if (is_append) {
            if (record_writer(inf, t, tid, appender, k, v, s_appended_to))
                goto done;
            PyObject *s = PyDict_GetItemWithError(state, k);
            if (!s) {
                if (PyErr_Occurred())
                    goto done;
                PyObject *own = PyList_New(1), *sl = PyList_New(3);
                if (!own || !sl) {
                    Py_XDECREF(own);
                    Py_XDECREF(sl);
                    goto done;
                }
                Py_INCREF(v);
                PyList_SET_ITEM(own, 0, v);
                Py_INCREF(Py_None);
                PyList_SET_ITEM(sl, 0, Py_None);
                PyList_SET_ITEM(sl, 1, own);
                Py_INCREF(v);
                PyList_SET_ITEM(sl, 2, v);
                int e = PyDict_SetItem(state, k, sl);
                Py_DECREF(sl);
                if (e)
                    goto done;
                continue;
            }
            /* s is a list made here, possibly changed by _reread (which keeps its shape) */
            if (!PyList_CheckExact(s) || PyList_GET_SIZE(s) != 3)
                goto done;
            PyObject *last = PyList_GET_ITEM(s, 2), *known = PyList_GET_ITEM(s, 0);
            if (last != Py_None) {
                PyObject *ik = setdefault_new(inter, k, new_set);
                if (!ik || PySet_Add(ik, last))
                    goto done;
            } else if (ok && known != Py_None) {
                Py_ssize_t n = PyObject_Length(known);
                PyObject *rk, *byn, *nn;
                if (n < 0 || !(rk = setdefault_new(rmw, k, new_dict)) || !(nn = PyLong_FromSsize_t(n)))
                    goto done;
                byn = setdefault_new(rk, nn, new_list);
                Py_DECREF(nn);
                if (!byn || PyList_Append(byn, tid))
                    goto done;
            }
            if (PyList_Append(PyList_GET_ITEM(s, 1), v))
                goto done;
            Py_INCREF(v);
            PyList_SetItem(s, 2, v);
            continue;
        }
        int is_read = same(f, READ);
        if (is_read <= 0)
            goto done;  /* an error, or neither: the Python loop raises the right error */
        if (!ok)
            continue;
        PyObject *val = v;
        if (v == Py_None) {
            if (!(val = PyList_New(0)))
                goto done;
        } else if (!PyList_CheckExact(v)) {
            goto done;
        } else {
            Py_INCREF(val);
        }
        PyObject *s = PyDict_GetItemWithError(state, k);
        if (!s) {
            PyObject *sl = NULL, *own = NULL;
            int e = PyErr_Occurred() || !(own = PyList_New(0)) || !(sl = PyList_New(3));
            if (e) {
                Py_XDECREF(own);
                Py_DECREF(val);
                goto done;
            }
            Py_INCREF(val);
            PyList_SET_ITEM(sl, 0, val);
            PyList_SET_ITEM(sl, 1, own);
            Py_INCREF(Py_None);
            PyList_SET_ITEM(sl, 2, Py_None);
            e = PyDict_SetItem(state, k, sl) || add_read(reads, k, tid, val);
            Py_DECREF(sl);
            Py_DECREF(val);
            if (e)
                goto done;
        } else {
            if (!ntid && !(ntid = PyNumber_Invert(tid))) {
                Py_DECREF(val);
                goto done;
            }
            Py_INCREF(s);
            int e = add_read(reads, k, ntid, val);
            PyObject *r = e ? NULL : PyObject_CallMethodObjArgs(inf, s_reread, t, k, val, s, NULL);
            Py_DECREF(s);
            Py_DECREF(val);
            if (!r)
                goto done;
            Py_DECREF(r);
        }
    }
    rc = 0;
done:
    Py_XDECREF(tid);
    Py_XDECREF(typ);
    Py_XDECREF(mops);
    Py_XDECREF(state);
    Py_XDECREF(ntid);
    return rc;
}

static PyObject *append_scan(PyObject *self, PyObject *args) {
    PyObject *inf, *txns, *aborted, *reads, *inter, *rmw, *FAIL, *OK, *APPEND, *READ;
    if (!PyArg_ParseTuple(args, "OO!O!O!O!O!OOOO", &inf, &PyList_Type, &txns, &PyDict_Type, &aborted,
                          &PyDict_Type, &reads, &PyDict_Type, &inter, &PyDict_Type, &rmw, &FAIL, &OK, &APPEND,
                          &READ))
        return NULL;
    PyObject *appender = PyObject_GetAttr(inf, s_appender);
    if (!appender)
        return NULL;
    if (!PyDict_CheckExact(appender)) {
        Py_DECREF(appender);
        Py_RETURN_FALSE;
    }
    attrs ta;
    txn_attrs_init(&ta, txns);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(txns); i++) {
        PyObject *t = PyList_GET_ITEM(txns, i);
        Py_INCREF(t);
        int e = scan_txn(inf, &ta, t, aborted, reads, inter, rmw, appender, FAIL, OK, APPEND, READ);
        Py_DECREF(t);
        if (e) {
            attrs_clear(&ta);
            Py_DECREF(appender);
            if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_Exception))
                return NULL;  /* KeyboardInterrupt and the like go through */
            PyErr_Clear();
            Py_RETURN_FALSE;
        }
    }
    attrs_clear(&ta);
    Py_DECREF(appender);
    Py_RETURN_TRUE;
}

/* ---- append_edges: the orders and edges of checkers/txn/append.py AppendInference._key_edges, every key ----
 *
 * append_edges(reads, appender, inter, adj, order, writers_of, g1b, WR, RW, WW) -> [(key, bad positions)]
 * For each key of ``reads`` in its order, does what _key_edges does (order[k], writers_of[k], the edges added to
 * ``adj`` in the same order, G1b reads appended to ``g1b``) and returns, in key order, the keys _orders_and_edges
 * would take notes for (a read that is not a prefix, an element appended by no known transaction, an element twice
 * in the order) with the positions of their non-prefix reads. Errors (an unhashable element...) propagate. */

/* d[b] = d.get(b, 0) | kind, with d = adj[a] */
static int or_edge(PyObject *adj, long a, long b, long kind) {
    if (a < 0 || a >= PyList_GET_SIZE(adj) || b < 0) {
        PyErr_Format(PyExc_ValueError, "edge %ld -> %ld: not a transaction id", a, b);
        return -1;
    }
    PyObject *d = PyList_GET_ITEM(adj, a);
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "adj holds a non-dict");
        return -1;
    }
    PyObject *kb = PyLong_FromLong(b);
    if (!kb)
        return -1;
    PyObject *old = PyDict_GetItemWithError(d, kb);
    long m = kind;
    if (old) {
        m |= PyLong_AsLong(old);
        if (m == -1 && PyErr_Occurred()) {
            Py_DECREF(kb);
            return -1;
        }
    } else if (PyErr_Occurred()) {
        Py_DECREF(kb);
        return -1;
    }
    PyObject *mv = PyLong_FromLong(m);
    int rc = mv ? PyDict_SetItem(d, kb, mv) : -1;
    Py_XDECREF(mv);
    Py_DECREF(kb);
    return rc;
}

/* a Python int or None -> long; NONE_ID for None; -2 with an exception on error */
#define NONE_ID (-1L)
static long tid_of(PyObject *o) {
    if (o == Py_None)
        return NONE_ID;
    long x = PyLong_AsLong(o);
    if (x == -1 && PyErr_Occurred())
        return -2;
    if (x < 0) {
        PyErr_SetString(PyExc_ValueError, "a negative transaction id");
        return -2;
    }
    return x;
}

static int key_edges(PyObject *k, PyObject *rs, PyObject *appender, PyObject *inter, PyObject *adj,
                     PyObject *order, PyObject *writers_of, PyObject *g1b, long WRk, long RWk, long WWk,
                     PyObject *flagged) {
    int rc = -1;
    PyObject *writers = NULL, *bad = NULL, *seen = NULL;
    long *wid = NULL;
    if (!PyList_CheckExact(rs) || PyList_GET_SIZE(rs) % 2) {
        PyErr_SetString(PyExc_TypeError, "reads must hold flat [reader, list, ...] lists");
        return -1;
    }
    Py_ssize_t nr = PyList_GET_SIZE(rs) / 2;
    /* longest: the first read of the greatest length */
    PyObject *longest = NULL;
    Py_ssize_t size = -1;
    for (Py_ssize_t i = 0; i < nr; i++) {
        PyObject *v = PyList_GET_ITEM(rs, 2 * i + 1);
        if (!PyList_CheckExact(v)) {
            PyErr_SetString(PyExc_TypeError, "a read that is not a list");
            return -1;
        }
        if (PyList_GET_SIZE(v) > size) {
            size = PyList_GET_SIZE(v);
            longest = v;
        }
    }
    if (!longest)
        return 0; /* no reads: Python's max() would raise; reads never holds an empty list */
    if (PyDict_SetItem(order, k, longest))
        return -1;
    PyObject *a = PyDict_GetItemWithError(appender, k);
    if (!a && PyErr_Occurred())
        return -1;
    if (a && !PyDict_Check(a)) {
        PyErr_SetString(PyExc_TypeError, "appender holds a non-dict");
        return -1;
    }
    if (!(writers = PyList_New(size)) || !(wid = malloc((size ? size : 1) * sizeof(long))))
        goto done;
    int any_none = 0;
    for (Py_ssize_t j = 0; j < size; j++) {
        PyObject *w = Py_None;
        if (a) {
            w = PyDict_GetItemWithError(a, PyList_GET_ITEM(longest, j));
            if (!w) {
                if (PyErr_Occurred())
                    goto done;
                w = Py_None;
            }
        }
        Py_INCREF(w);
        PyList_SET_ITEM(writers, j, w);
        if ((wid[j] = tid_of(w)) == -2)
            goto done;
        any_none |= wid[j] == NONE_ID;
    }
    if (PyDict_SetItem(writers_of, k, writers))
        goto done;
    PyObject *ik = inter ? PyDict_GetItemWithError(inter, k) : NULL;
    if (!ik && PyErr_Occurred())
        goto done;
    if (!(bad = PyList_New(0)))
        goto done;
    long first = size ? wid[0] : NONE_ID;
    for (Py_ssize_t i = 0; i < nr; i++) {
        long tid = PyLong_AsLong(PyList_GET_ITEM(rs, 2 * i));
        if (tid == -1 && PyErr_Occurred())
            goto done;
        PyObject *v = PyList_GET_ITEM(rs, 2 * i + 1);
        Py_ssize_t n = PyList_GET_SIZE(v);
        if (!n) {
            if (tid >= 0 && first != NONE_ID && first != tid && or_edge(adj, tid, first, RWk))
                goto done;
            continue;
        }
        if (v != longest) {  /* a prefix of the order? */
            int prefix = n <= size;
            for (Py_ssize_t j = 0; prefix && j < n; j++) {
                int e = same(PyList_GET_ITEM(longest, j), PyList_GET_ITEM(v, j));
                if (e < 0)
                    goto done;
                prefix = e;
            }
            if (!prefix) {
                PyObject *pi = PyLong_FromSsize_t(i);
                int e = !pi || PyList_Append(bad, pi);
                Py_XDECREF(pi);
                if (e)
                    goto done;
            }
        }
        if (tid < 0)
            continue;
        PyObject *last = PyList_GET_ITEM(v, n - 1);
        int pre = same(PyList_GET_ITEM(longest, n - 1), last);  /* n <= size: longest is the longest */
        if (pre < 0)
            goto done;
        long w;
        if (pre) {
            w = wid[n - 1];
        } else {
            PyObject *wo = a ? PyDict_GetItemWithError(a, last) : NULL;
            if (!wo && PyErr_Occurred())
                goto done;
            if (!a) {  /* Python hashes last even with no appender for k */
                if (PyObject_Hash(last) == -1)
                    goto done;
            }
            w = wo ? tid_of(wo) : NONE_ID;
            if (w == -2)
                goto done;
        }
        if (w != NONE_ID && w != tid) {
            if (or_edge(adj, w, tid, WRk))
                goto done;
            if (ik) {
                int in = PySet_Contains(ik, last);
                if (in < 0)
                    goto done;
                if (in) {
                    PyObject *tup = Py_BuildValue("(lOOl)", tid, k, v, w);
                    int e = !tup || PyList_Append(g1b, tup);
                    Py_XDECREF(tup);
                    if (e)
                        goto done;
                }
            }
        }
        if (pre && n < size) {
            long nx = wid[n];
            if (nx != NONE_ID && nx != tid && or_edge(adj, tid, nx, RWk))
                goto done;
        }
    }
    long prev = first;
    for (Py_ssize_t j = 1; j < size; j++) {
        long w = wid[j];
        if (w != NONE_ID && prev != NONE_ID && w != prev && or_edge(adj, prev, w, WWk))
            goto done;
        prev = w;
    }
    /* notes to take: non-prefix reads, unknown elements, an element twice */
    int flag = PyList_GET_SIZE(bad) > 0 || any_none;
    if (!flag) {
        if (!(seen = PySet_New(longest)))
            goto done;
        flag = PySet_GET_SIZE(seen) != size;
    }
    if (flag) {
        PyObject *tup = PyTuple_Pack(2, k, bad);
        int e = !tup || PyList_Append(flagged, tup);
        Py_XDECREF(tup);
        if (e)
            goto done;
    }
    rc = 0;
done:
    Py_XDECREF(writers);
    Py_XDECREF(bad);
    Py_XDECREF(seen);
    free(wid);
    return rc;
}

static PyObject *append_edges(PyObject *self, PyObject *args) {
    PyObject *reads, *appender, *inter, *adj, *order, *writers_of, *g1b;
    long WRk, RWk, WWk;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!lll", &PyDict_Type, &reads, &PyDict_Type, &appender, &PyDict_Type,
                          &inter, &PyList_Type, &adj, &PyDict_Type, &order, &PyDict_Type, &writers_of, &PyList_Type,
                          &g1b, &WRk, &RWk, &WWk))
        return NULL;
    PyObject *flagged = PyList_New(0), *k, *rs;
    if (!flagged)
        return NULL;
    Py_ssize_t pos = 0;
    while (PyDict_Next(reads, &pos, &k, &rs)) {
        Py_INCREF(k);
        Py_INCREF(rs);
        int e = key_edges(k, rs, appender, inter, adj, order, writers_of, g1b, WRk, RWk, WWk, flagged);
        Py_DECREF(k);
        Py_DECREF(rs);
        if (e) {
            Py_DECREF(flagged);
            return NULL;
        }
    }
    return flagged;
}

/* ---- register_run: checkers/txn/register.py RegisterInference (its scan and its edges) ----
 *
 * register_run(inference, txns, aborted, inter, odd, lost, FAIL, OK, WRITE, READ, WR, WW, RW) -> bool
 * Does exactly what RegisterInference._scan and ._edges do, in the same order: fills ``inference.writer``,
 * ``.installed``, ``.wfr``, the given ``aborted`` and ``inter`` dicts and the edges of ``inference.adj`` (added in
 * the same order), calls ``inference._not_unique`` and ``inference._internal`` as the scan does, appends the reads
 * to note (tid, key, value, writer or None) to ``odd`` and the lost updates (key, value, [tids]) to ``lost``.
 * Returns False, with no exception set and ``adj`` untouched, on anything the scan does not handle as the Python
 * loop would (a micro-op that is not a 3-element list, an unknown micro-op, an unhashable key or read value, any
 * error): the caller then starts over in Python from clean state, which raises the right error. Errors after the
 * scan (there are none on the structures the scan built) propagate. */

static PyObject *s_writer, *s_installed, *s_wfr, *s_adj, *s_internal, *s_written_to;

/* One key of the transaction being scanned (borrowed references: the micro-ops hold them). */
typedef struct {
    PyObject *k;      /* the key as first met */
    Py_hash_t h;
    PyObject *view;   /* what the transaction last read or wrote there, or NULL */
    PyObject *last;   /* its last write, or NULL */
    PyObject *lk;     /* the key as first written (the Python dict ``last`` keeps that object) */
    PyObject *first;  /* its external read, or NULL */
} rkey;

/* A committed external read, or a write-follows-read pair (strong references). */
typedef struct {
    PyObject *tid, *k, *v;
    long t;
} rtrip;

typedef struct {
    rtrip *v;
    size_t len, cap;
} rvec;

static int rvec_push(rvec *a, PyObject *tid, long t, PyObject *k, PyObject *v) {
    if (a->len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        rtrip *n = realloc(a->v, cap * sizeof(rtrip));
        if (!n) {
            PyErr_NoMemory();
            return -1;
        }
        a->v = n;
        a->cap = cap;
    }
    Py_INCREF(tid);
    Py_INCREF(k);
    Py_INCREF(v);
    a->v[a->len++] = (rtrip){tid, k, v, t};
    return 0;
}

static void rvec_free(rvec *a) {
    for (size_t i = 0; i < a->len; i++) {
        Py_DECREF(a->v[i].tid);
        Py_DECREF(a->v[i].k);
        Py_DECREF(a->v[i].v);
    }
    free(a->v);
}

/* The scan's reusable per-transaction key table: open addressing over rkey entries, keys equal as a dict says
 * (the same object, or equal hashes and ==). */
typedef struct {
    rkey *keys;
    int32_t *slots;   /* entry index + 1, 0 = empty */
    int32_t *worder;  /* entries in the order of their first write */
    size_t nkeys, nw, cap, mask;
} rtable;

static int rtable_reset(rtable *tb, Py_ssize_t m) {
    size_t need = 8;
    while (need < (size_t)m * 2)
        need *= 2;
    if (need > tb->cap) {
        rkey *k = realloc(tb->keys, need * sizeof(rkey));
        if (k)
            tb->keys = k;
        int32_t *s = realloc(tb->slots, need * sizeof(int32_t));
        if (s)
            tb->slots = s;
        int32_t *w = realloc(tb->worder, need * sizeof(int32_t));
        if (w)
            tb->worder = w;
        if (!k || !s || !w) {
            PyErr_NoMemory();
            return -1;
        }
        tb->cap = need;
    }
    tb->mask = need - 1;
    memset(tb->slots, 0, need * sizeof(int32_t));
    tb->nkeys = tb->nw = 0;
    return 0;
}

/* The entry of key k (created empty when new); NULL with an exception on error. */
static rkey *rtable_get(rtable *tb, PyObject *k, Py_hash_t h) {
    size_t i = (size_t)h & tb->mask;
    for (;;) {
        int32_t s = tb->slots[i];
        if (!s)
            break;
        rkey *e = &tb->keys[s - 1];
        if (e->k == k)
            return e;
        if (e->h == h) {
            int eq = PyObject_RichCompareBool(e->k, k, Py_EQ);
            if (eq < 0)
                return NULL;
            if (eq)
                return e;
        }
        i = (i + 1) & tb->mask;
    }
    rkey *e = &tb->keys[tb->nkeys];
    *e = (rkey){k, h, NULL, NULL, NULL, NULL};
    tb->slots[i] = (int32_t)++tb->nkeys;
    return e;
}

/* d[b] = d.get(b, 0) | kind, with d = adj[a] and b the int object of node b; one hash lookup for a new edge */
static int or_edge_obj(PyObject *adj, long a, PyObject *b, long kind) {
    if (a < 0 || a >= PyList_GET_SIZE(adj)) {
        PyErr_Format(PyExc_ValueError, "edge from %ld: not a transaction id", a);
        return -1;
    }
    PyObject *d = PyList_GET_ITEM(adj, a);
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "adj holds a non-dict");
        return -1;
    }
    PyObject *kv = PyLong_FromLong(kind);
    if (!kv)
        return -1;
    PyObject *old = PyDict_SetDefault(d, b, kv);  /* borrowed: kv when b was new */
    int rc = 0;
    if (!old) {
        rc = -1;
    } else if (old != kv) {
        long o = PyLong_AsLong(old);
        if (o == -1 && PyErr_Occurred()) {
            rc = -1;
        } else if ((o | kind) != o) {
            PyObject *mv = PyLong_FromLong(o | kind);
            rc = mv ? PyDict_SetItem(d, b, mv) : -1;
            Py_XDECREF(mv);
        }
    }
    Py_DECREF(kv);
    return rc;
}

/* One transaction of the scan; -1 to give up (with or without an exception). */
static int reg_scan_txn(PyObject *inf, attrs *ta, PyObject *t, rtable *tb, PyObject *writer, PyObject *installed,
                        PyObject *wfr, PyObject *aborted, PyObject *inter, PyObject *readers, rvec *ext,
                        rvec *rmwv, PyObject *FAIL, PyObject *OK, PyObject *WRITE, PyObject *READ) {
    int rc = -1;
    PyObject *tid = NULL, *typ = NULL, *mops = NULL;
    if (!(tid = attr(ta, t, TX_ID)) || !(typ = attr(ta, t, TX_TYPE)) || !(mops = attr(ta, t, TX_MOPS)))
        goto done;
    if (!PyList_CheckExact(mops) || !PyLong_CheckExact(tid))
        goto done;
    long tl = PyLong_AsLong(tid);
    if (tl == -1 && PyErr_Occurred())
        goto done;
    int is_fail = same(typ, FAIL);
    if (is_fail < 0)
        goto done;
    Py_ssize_t m = PyList_GET_SIZE(mops);
    if (is_fail) {
        rc = record_aborted(mops, tid, aborted, WRITE);
        goto done;
    }
    int ok = same(typ, OK);
    if (ok < 0 || rtable_reset(tb, m))
        goto done;
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *mop = PyList_GET_ITEM(mops, i);
        if (!PyList_CheckExact(mop) || PyList_GET_SIZE(mop) != 3)
            goto done;
        PyObject *f = PyList_GET_ITEM(mop, 0), *k = PyList_GET_ITEM(mop, 1), *v = PyList_GET_ITEM(mop, 2);
        int is_write = same(f, WRITE);
        if (is_write < 0)
            goto done;
        if (is_write) {
            if (record_writer(inf, t, tid, writer, k, v, s_written_to))
                goto done;
            Py_hash_t h = PyObject_Hash(k);  /* k went into writer: hashable */
            rkey *e = h == -1 ? NULL : rtable_get(tb, k, h);
            if (!e)
                goto done;
            if (e->last) {
                PyObject *ik = setdefault_new(inter, k, new_set);
                if (!ik || PySet_Add(ik, e->last))
                    goto done;
            } else {
                e->lk = k;
                tb->worder[tb->nw++] = (int32_t)(e - tb->keys);
            }
            e->last = v;
            e->view = v;
            continue;
        }
        int is_read = same(f, READ);
        if (is_read <= 0)
            goto done;  /* an error, or neither: the Python loop raises the right error */
        if (!ok)
            continue;
        Py_hash_t h = PyObject_Hash(k);
        rkey *e = h == -1 ? NULL : rtable_get(tb, k, h);
        if (!e)
            goto done;
        if (!e->view) {
            PyObject *rk = setdefault_new(readers, k, new_dict);
            if (!rk || !PyDict_CheckExact(rk))
                goto done;
            PyObject *same_v = PyDict_GetItemWithError(rk, v);  /* an unhashable value: given up */
            if (!same_v) {
                if (PyErr_Occurred())
                    goto done;
                PyObject *l = PyList_New(1);
                if (!l)
                    goto done;
                Py_INCREF(tid);
                PyList_SET_ITEM(l, 0, tid);
                int x = PyDict_SetItem(rk, v, l);
                Py_DECREF(l);
                if (x)
                    goto done;
            } else if (!PyList_CheckExact(same_v) || PyList_Append(same_v, tid)) {
                goto done;
            }
            if (rvec_push(ext, tid, tl, k, v))
                goto done;
            e->view = v;
            e->first = v;
        } else {
            PyObject *ne = PyObject_RichCompare(e->view, v, Py_NE);
            int differs = ne ? PyObject_IsTrue(ne) : -1;
            Py_XDECREF(ne);
            if (differs < 0)
                goto done;
            if (differs) {
                PyObject *r = PyObject_CallMethodObjArgs(inf, s_internal, t, k, v, e->view, NULL);
                if (!r)
                    goto done;
                Py_DECREF(r);
            }
        }
    }
    for (size_t j = 0; j < tb->nw; j++) {
        rkey *e = &tb->keys[tb->worder[j]];
        PyObject *pair = PyTuple_Pack(2, tid, e->last);
        if (!pair)
            goto done;
        PyObject *ik = PyDict_GetItemWithError(installed, e->lk);
        int x;
        if (ik) {
            x = !PyList_CheckExact(ik) || PyList_Append(ik, pair);
        } else if (PyErr_Occurred()) {
            x = -1;
        } else {
            PyObject *l = PyList_New(1);
            x = !l;
            if (l) {
                Py_INCREF(pair);
                PyList_SET_ITEM(l, 0, pair);
                x = PyDict_SetItem(installed, e->lk, l);
                Py_DECREF(l);
            }
        }
        Py_DECREF(pair);
        if (x)
            goto done;
        if (ok && e->first) {
            PyObject *key = PyTuple_Pack(2, tid, e->lk);
            x = !key || PyDict_SetItem(wfr, key, e->first) || rvec_push(rmwv, tid, tl, e->lk, e->first);
            Py_XDECREF(key);
            if (x)
                goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(tid);
    Py_XDECREF(typ);
    Py_XDECREF(mops);
    return rc;
}

/* The edges and the reads to note, after the scan (RegisterInference._edges). */
static int reg_edges(PyObject *adj, PyObject *writer, PyObject *installed, PyObject *inter, PyObject *readers,
                     rvec *ext, rvec *rmwv, PyObject *odd, PyObject *lost, long WRk, long WWk, long RWk) {
    int rc = -1;
    PyObject *rmw = NULL;
    for (size_t i = 0; i < ext->len; i++) {
        rtrip *r = &ext->v[i];
        if (r->v == Py_None)
            continue;
        PyObject *wk = PyDict_GetItemWithError(writer, r->k);
        PyObject *w = wk ? PyDict_GetItemWithError(wk, r->v) : NULL;
        if (!w && PyErr_Occurred())
            goto done;
        if (!w) {
            PyObject *tup = PyTuple_Pack(4, r->tid, r->k, r->v, Py_None);
            int e = !tup || PyList_Append(odd, tup);
            Py_XDECREF(tup);
            if (e)
                goto done;
            continue;
        }
        long wl = PyLong_AsLong(w);
        if (wl == -1 && PyErr_Occurred())
            goto done;
        if (wl == r->t)
            continue;
        if (or_edge_obj(adj, wl, r->tid, WRk))
            goto done;
        PyObject *ik = PyDict_GetItemWithError(inter, r->k);
        if (!ik && PyErr_Occurred())
            goto done;
        if (ik) {
            int in = PySet_Contains(ik, r->v);
            if (in < 0)
                goto done;
            if (in) {
                PyObject *tup = PyTuple_Pack(4, r->tid, r->k, r->v, w);
                int e = !tup || PyList_Append(odd, tup);
                Py_XDECREF(tup);
                if (e)
                    goto done;
            }
        }
    }
    /* readers of the initial state -> every transaction that installed a value */
    PyObject *k, *byv;
    Py_ssize_t pos = 0;
    while (PyDict_Next(readers, &pos, &k, &byv)) {
        PyObject *nil = PyDict_GetItemWithError(byv, Py_None);
        if (!nil) {
            if (PyErr_Occurred())
                goto done;
            continue;
        }
        PyObject *ins = PyDict_GetItemWithError(installed, k);
        if (!ins) {
            if (PyErr_Occurred())
                goto done;
            continue;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(ins); j++) {
            PyObject *w = PyTuple_GET_ITEM(PyList_GET_ITEM(ins, j), 0);
            long wl = PyLong_AsLong(w);
            if (wl == -1 && PyErr_Occurred())
                goto done;
            for (Py_ssize_t q = 0; q < PyList_GET_SIZE(nil); q++) {
                long rl = PyLong_AsLong(PyList_GET_ITEM(nil, q));
                if (rl == -1 && PyErr_Occurred())
                    goto done;
                if (rl != wl && or_edge_obj(adj, rl, w, RWk))
                    goto done;
            }
        }
    }
    /* writes follow reads: v before the value the transaction installed */
    if (!(rmw = PyDict_New()))
        goto done;
    for (size_t i = 0; i < rmwv->len; i++) {
        rtrip *r = &rmwv->v[i];
        PyObject *kv = PyTuple_Pack(2, r->k, r->v);
        if (!kv)
            goto done;
        PyObject *same_kv = PyDict_GetItemWithError(rmw, kv);
        int e;
        if (same_kv) {
            e = PyList_Append(same_kv, r->tid);
        } else if (PyErr_Occurred()) {
            e = -1;
        } else {
            PyObject *l = PyList_New(1);
            e = !l;
            if (l) {
                Py_INCREF(r->tid);
                PyList_SET_ITEM(l, 0, r->tid);
                e = PyDict_SetItem(rmw, kv, l);
                Py_DECREF(l);
            }
        }
        Py_DECREF(kv);
        if (e)
            goto done;
        if (r->v == Py_None)
            continue;
        PyObject *wk = PyDict_GetItemWithError(writer, r->k);
        PyObject *w = wk ? PyDict_GetItemWithError(wk, r->v) : NULL;
        if (!w && PyErr_Occurred())
            goto done;
        if (w) {
            long wl = PyLong_AsLong(w);
            if (wl == -1 && PyErr_Occurred())
                goto done;
            if (wl != r->t && or_edge_obj(adj, wl, r->tid, WWk))
                goto done;
        }
        PyObject *rk = PyDict_GetItemWithError(readers, r->k);
        PyObject *rs = rk ? PyDict_GetItemWithError(rk, r->v) : NULL;
        if (!rs) {
            if (PyErr_Occurred())
                goto done;
            continue;
        }
        for (Py_ssize_t q = 0; q < PyList_GET_SIZE(rs); q++) {
            long rl = PyLong_AsLong(PyList_GET_ITEM(rs, q));
            if (rl == -1 && PyErr_Occurred())
                goto done;
            if (rl != r->t && or_edge_obj(adj, rl, r->tid, RWk))
                goto done;
        }
    }
    PyObject *kv, *tids;
    pos = 0;
    while (PyDict_Next(rmw, &pos, &kv, &tids)) {
        if (PyList_GET_SIZE(tids) > 1) {
            PyObject *tup = PyTuple_Pack(3, PyTuple_GET_ITEM(kv, 0), PyTuple_GET_ITEM(kv, 1), tids);
            int e = !tup || PyList_Append(lost, tup);
            Py_XDECREF(tup);
            if (e)
                goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(rmw);
    return rc;
}

static PyObject *register_run(PyObject *self, PyObject *args) {
    PyObject *inf, *txns, *aborted, *inter, *odd, *lost, *FAIL, *OK, *WRITE, *READ;
    long WRk, WWk, RWk;
    if (!PyArg_ParseTuple(args, "OO!O!O!O!O!OOOOlll", &inf, &PyList_Type, &txns, &PyDict_Type, &aborted,
                          &PyDict_Type, &inter, &PyList_Type, &odd, &PyList_Type, &lost, &FAIL, &OK, &WRITE, &READ,
                          &WRk, &WWk, &RWk))
        return NULL;
    PyObject *writer = NULL, *installed = NULL, *wfr = NULL, *adj = NULL, *readers = NULL, *result = NULL;
    rtable tb = {0};
    rvec ext = {0}, rmwv = {0};
    int gave_up = 1;
    attrs ta;
    txn_attrs_init(&ta, txns);
    if (!(writer = PyObject_GetAttr(inf, s_writer)) || !(installed = PyObject_GetAttr(inf, s_installed)) ||
        !(wfr = PyObject_GetAttr(inf, s_wfr)) || !(adj = PyObject_GetAttr(inf, s_adj)) ||
        !(readers = PyDict_New()))
        goto done;
    if (!PyDict_CheckExact(writer) || !PyDict_CheckExact(installed) || !PyDict_CheckExact(wfr) ||
        !PyList_CheckExact(adj))
        goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(txns); i++) {
        PyObject *t = PyList_GET_ITEM(txns, i);
        Py_INCREF(t);
        int e = reg_scan_txn(inf, &ta, t, &tb, writer, installed, wfr, aborted, inter, readers, &ext, &rmwv, FAIL, OK,
                             WRITE, READ);
        Py_DECREF(t);
        if (e)
            goto done;
    }
    gave_up = 0;
    if (!reg_edges(adj, writer, installed, inter, readers, &ext, &rmwv, odd, lost, WRk, WWk, RWk)) {
        result = Py_True;
        Py_INCREF(result);
    }
done:
    if (gave_up) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_Exception)) {
            PyErr_Clear();
            result = Py_False;
            Py_INCREF(result);
        } /* else KeyboardInterrupt and the like go through */
    }
    Py_XDECREF(writer);
    Py_XDECREF(installed);
    Py_XDECREF(wfr);
    Py_XDECREF(adj);
    Py_XDECREF(readers);
    rvec_free(&ext);
    rvec_free(&rmwv);
    attrs_clear(&ta);
    free(tb.keys);
    free(tb.slots);
    free(tb.worder);
    return result;
}

/* ---- collect: checkers/txn/txns.py collect (history -> transactions) ----
 *
 * collect(history, events, Txn, TXN, INVOKE, OK, FAIL, INFO) -> list of Txn, or None
 * Does exactly what txns.py ``_collect`` does for a list ``history``: the same Txn objects (made as
 * ``Txn.__new__`` would, their slots set through the class's descriptors), the same ``events`` appended (when it
 * is a list). Returns None, with no exception set, ``events`` as it was and nothing else changed, on anything it
 * does not handle as the Python loop would (a txn value that is not a list, an unhashable process, a history that
 * is not a list, any error): the caller then runs the Python loop, which raises the right error. */

static PyObject *s_f, *s_value, *s_index, *s_process, *s_node;
/* the attributes collect reads of an op */
enum { A_F, A_TYPE, A_VALUE, A_INDEX, A_PROCESS, A_NODE, A_N };
static const char *const txn_slots[] = {"id", "index", "process", "type", "mops", "invoke_pos", "complete_pos",
                                        "node"};
enum { T_ID, T_INDEX, T_PROCESS, T_TYPE, T_MOPS, T_INVOKE_POS, T_COMPLETE_POS, T_NODE, T_NSLOTS };

static int set_slot(PyObject **descr, int which, PyObject *obj, PyObject *v) {
    return Py_TYPE(descr[which])->tp_descr_set(descr[which], obj, v);
}

/* 1 when o == s for an interned-or-not exact str s; -1 on error */
static int str_eq(PyObject *o, PyObject *s) {
    if (o == s)
        return 1;
    if (PyUnicode_CheckExact(o))
        return PyUnicode_Compare(o, s) == 0;
    return PyObject_RichCompareBool(o, s, Py_EQ);
}

static PyObject *collect_txns(PyObject *self, PyObject *args) {
    PyObject *history, *events, *cls, *TXN, *INVOKE, *OK, *FAIL, *INFO;
    if (!PyArg_ParseTuple(args, "OOO!OOOOO", &history, &events, &PyType_Type, &cls, &TXN, &INVOKE, &OK, &FAIL,
                          &INFO))
        return NULL;
    if (!PyList_CheckExact(history) || (events != Py_None && !PyList_CheckExact(events)) ||
        !PyUnicode_CheckExact(TXN) || !PyUnicode_CheckExact(INVOKE) || !PyUnicode_CheckExact(OK) ||
        !PyUnicode_CheckExact(FAIL))
        Py_RETURN_NONE;
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *descr[T_NSLOTS] = {0}, *txns = NULL, *pending = NULL, *out = NULL;
    attrs oa = {0};
    Py_ssize_t nev = events == Py_None ? 0 : PyList_GET_SIZE(events);
    for (int i = 0; i < T_NSLOTS; i++) {
        descr[i] = PyObject_GetAttrString(cls, txn_slots[i]);
        if (!descr[i] || !Py_TYPE(descr[i])->tp_descr_set)
            goto done;
    }
    if (!(txns = PyList_New(0)) || !(pending = PyDict_New()))
        goto done;
    Py_ssize_t n = PyList_GET_SIZE(history);
    {
        PyObject *const names[A_N] = {s_f, s_type, s_value, s_index, s_process, s_node};
        attrs_init(&oa, n ? PyList_GET_ITEM(history, 0) : NULL, names, A_N);
    }
    for (Py_ssize_t pos = 0; pos < n; pos++) {
        PyObject *op = PyList_GET_ITEM(history, pos);
        PyObject *f = attr(&oa, op, A_F);
        if (!f)
            goto done;
        int is_txn = str_eq(f, TXN);
        Py_DECREF(f);
        if (is_txn < 0)
            goto done;
        if (!is_txn)
            continue;
        PyObject *typ = attr(&oa, op, A_TYPE);
        if (!typ)
            goto done;
        int is_invoke = str_eq(typ, INVOKE);
        if (is_invoke) {
            Py_DECREF(typ);
            if (is_invoke < 0)
                goto done;
            PyObject *value = NULL, *index = NULL, *process = NULL, *node = NULL, *tid = NULL, *p = NULL, *t = NULL;
            int e = !(value = attr(&oa, op, A_VALUE)) || !PyList_CheckExact(value) ||
                    !(index = attr(&oa, op, A_INDEX)) || !(process = attr(&oa, op, A_PROCESS)) ||
                    !(node = attr(&oa, op, A_NODE)) ||
                    !(tid = PyLong_FromSsize_t(PyList_GET_SIZE(txns))) || !(p = PyLong_FromSsize_t(pos)) ||
                    !(t = tp->tp_alloc(tp, 0)) || set_slot(descr, T_ID, t, tid) ||
                    set_slot(descr, T_INDEX, t, index) || set_slot(descr, T_PROCESS, t, process) ||
                    set_slot(descr, T_TYPE, t, INFO) || set_slot(descr, T_MOPS, t, value) ||
                    set_slot(descr, T_INVOKE_POS, t, p) || set_slot(descr, T_COMPLETE_POS, t, Py_None) ||
                    set_slot(descr, T_NODE, t, node) || PyList_Append(txns, t) ||
                    PyDict_SetItem(pending, process, t) || (events != Py_None && PyList_Append(events, tid));
            Py_XDECREF(value);
            Py_XDECREF(index);
            Py_XDECREF(process);
            Py_XDECREF(node);
            Py_XDECREF(tid);
            Py_XDECREF(p);
            Py_XDECREF(t);
            if (e)
                goto done;
            continue;
        }
        PyObject *process = attr(&oa, op, A_PROCESS);
        if (!process) {
            Py_DECREF(typ);
            goto done;
        }
        /* pending.pop(process, None) */
        PyObject *t = PyDict_GetItemWithError(pending, process);
        if (!t) {
            Py_DECREF(process);
            Py_DECREF(typ);
            if (PyErr_Occurred())
                goto done;
            continue;  /* a completion without an invoke: the history validator rejects those */
        }
        Py_INCREF(t);
        int e = PyDict_DelItem(pending, process);
        Py_DECREF(process);
        PyObject *index = e ? NULL : attr(&oa, op, A_INDEX);
        e = !index || set_slot(descr, T_INDEX, t, index);
        Py_XDECREF(index);
        int is_ok = e ? -1 : str_eq(typ, OK);
        int is_fail = is_ok ? 0 : str_eq(typ, FAIL);
        Py_DECREF(typ);
        if (is_ok < 0 || is_fail < 0) {
            Py_DECREF(t);
            goto done;
        }
        if (is_ok || is_fail) {
            PyObject *p = PyLong_FromSsize_t(pos), *value = NULL, *ntid = NULL;
            e = !p || set_slot(descr, T_TYPE, t, is_ok ? OK : FAIL) || set_slot(descr, T_COMPLETE_POS, t, p);
            if (!e && is_ok) {
                e = !(value = attr(&oa, op, A_VALUE));
                if (!e && value != Py_None)
                    e = !PyList_CheckExact(value) || set_slot(descr, T_MOPS, t, value);
                if (!e && events != Py_None) {
                    PyObject *tid = PyObject_GetAttr(t, s_id);
                    e = !tid || !(ntid = PyNumber_Invert(tid)) || PyList_Append(events, ntid);
                    Py_XDECREF(tid);
                }
            }
            Py_XDECREF(p);
            Py_XDECREF(value);
            Py_XDECREF(ntid);
        }
        /* an info completion says nothing about when the transaction took effect: it stays pending for good */
        Py_DECREF(t);
        if (e)
            goto done;
    }
    out = txns;
    txns = NULL;
done:
    if (!out) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_Exception)) {
            PyErr_Clear();
            if (events != Py_None && PyList_SetSlice(events, nev, PyList_GET_SIZE(events), NULL))
                out = NULL;
            else {
                out = Py_None;
                Py_INCREF(out);
            }
        }
    }
    for (int i = 0; i < T_NSLOTS; i++)
        Py_XDECREF(descr[i]);
    attrs_clear(&oa);
    Py_XDECREF(txns);
    Py_XDECREF(pending);
    return out;
}

static PyMethodDef methods[] = {
    {"peel", peel, METH_VARARGS,
     "peel(adj, events) -> the nodes left after repeatedly removing those with no incoming edge, counting the "
     "real-time edges of events too (see the module source)"},
    {"append_scan", append_scan, METH_VARARGS,
     "append_scan(inference, txns, aborted, reads, inter, rmw, FAIL, OK, APPEND, READ) -> whether it did the "
     "first pass of AppendInference (see the module source)"},
    {"append_edges", append_edges, METH_VARARGS,
     "append_edges(reads, appender, inter, adj, order, writers_of, g1b, WR, RW, WW) -> [(key, bad read positions)]"
     ": the orders and edges of AppendInference (see the module source)"},
    {"register_run", register_run, METH_VARARGS,
     "register_run(inference, txns, aborted, inter, odd, lost, FAIL, OK, WRITE, READ, WR, WW, RW) -> whether it "
     "ran RegisterInference's scan and edges (see the module source)"},
    {"collect", collect_txns, METH_VARARGS,
     "collect(history, events, Txn, TXN, INVOKE, OK, FAIL, INFO) -> the transactions of a history, or None when "
     "it leaves them to the Python loop (see the module source)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_txn_native",
                                    "Native core of the transactional checker (see the module source).", -1, methods};

PyMODINIT_FUNC PyInit__txn_native(void) {
    if (!(s_id = PyUnicode_InternFromString("id")) || !(s_type = PyUnicode_InternFromString("type")) ||
        !(s_mops = PyUnicode_InternFromString("mops")) || !(s_appender = PyUnicode_InternFromString("appender")) ||
        !(s_not_unique = PyUnicode_InternFromString("_not_unique")) ||
        !(s_reread = PyUnicode_InternFromString("_reread")) ||
        !(s_appended_to = PyUnicode_InternFromString("appended to")) ||
        !(s_writer = PyUnicode_InternFromString("writer")) ||
        !(s_installed = PyUnicode_InternFromString("installed")) || !(s_wfr = PyUnicode_InternFromString("wfr")) ||
        !(s_adj = PyUnicode_InternFromString("adj")) || !(s_internal = PyUnicode_InternFromString("_internal")) ||
        !(s_written_to = PyUnicode_InternFromString("written to")) || !(s_f = PyUnicode_InternFromString("f")) ||
        !(s_value = PyUnicode_InternFromString("value")) || !(s_index = PyUnicode_InternFromString("index")) ||
        !(s_process = PyUnicode_InternFromString("process")) || !(s_node = PyUnicode_InternFromString("node")))
        return NULL;
    return PyModule_Create(&module);
}
