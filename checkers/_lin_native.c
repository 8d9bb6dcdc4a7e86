/* The native core of the linearizability checker: a verdict-only just-in-time search (see checkers/_lin_fast.py).
 *
 * Private module. Contract of
 * verdict(history, code, init, step, hints, helpers, check, keep, max_steps, dfs_cap):
 *   True   some order of the ops that respects real time is legal for the model (found, never guessed);
 *   False  no such order exists;
 *   None   gave up: the depth-first pass passed ``dfs_cap`` steps or its memory cap, and then the breadth-first
 *          search could not run (more ops pending at once than mask bits; unknown-outcome ones count to the end)
 *          or passed ``max_steps`` steps on a history with unknown-outcome ops (max_steps < 0: no cap).
 * It raises whatever the model's functions or ``check`` raise (``check`` is the budget's deadline check, called
 * every few thousand steps, so a long search stops within milliseconds of the deadline).
 *
 * ``history``: one part's ops (objects with type, process, f, value), history order, no nemesis ops. They are
 * paired by process here as checkers._lin_search.prepare does: fail ops are left out; an info completion or an
 * invoke never completed (or followed by another invoke of its process) has an unknown outcome: once called it
 * stays pending to the end and is used at most once; read-only such ops are left out.
 *
 * ``code`` says how ops move the state. 0: any model, through its hints ``(read_only, read_expect, overwrites)``
 * and ``step(state, f, input, output) -> (legal, new state)``, called once per (op, state). 1, 2, 3: the built-in
 * register, cas-register and kv (one key) models of checkers/models.py, compiled here into kinds of transition:
 *   K_READ    read-only, legal exactly in state ``a`` (read_expect): placed as soon as that is legal;
 *   K_SET     legal everywhere, leaves state ``a`` (a write, an overwrite);
 *   K_CAS     legal in state ``a`` only, leaves state ``b``;
 *   K_NEVER   legal nowhere;
 *   K_APPEND  ``state + input`` when the state is exactly a str, else through ``step`` (a kv append);
 *   K_GENERIC through ``step``.
 * ``helpers``: (UNKNOWN, NO_EXPECT, _freeze, class_key(f, input) -> hashable key of interchangeable ops).
 *
 * The search is the one of checkers/_lin_definite.py and checkers/_lin_search.py: configurations (state, mask) where
 * the mask says which pending ops are already linearized; at a return every configuration must place the
 * returning op, possibly after other pending ops (the closure); reads are placed the moment they are legal.
 * States are Python objects interned to ints (a dict), so any hashable state works. Unknown-outcome ops:
 * interchangeable ones (same f and input) are used in invocation order only; dominance (of configurations that
 * agree on the state and the other bits, one that used a subset of the unknown-outcome ops another used can do
 * all the other can: the other is dropped); the overwrite rule (an unknown-outcome op is only worth trying where a
 * read or an op that does not overwrite follows it: the node after it is "marked" and tries no overwrite next);
 * and a first narrow pass that keeps ``keep`` configurations per (state, other bits), rerun in full when it fails
 * having dropped some. See checkers/_lin_search.py for why each is exact.
 *
 * Before it, a depth-first pass (run_dfs: Porcupine's search) gets ``dfs_cap`` steps (0: none; uncapped for a
 * built-in model on a part without unknown-outcome ops): it finds one linearization fast where the breadth-first
 * search would enumerate every order of ops that do not commute.
 *
 * For the built-in models both searches drop dead states (prune_t: a read not placed yet whose value can no
 * longer be reached) and merge unobservable states into one junk state (observers_t); see those sections.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 mask_t;
#else
typedef uint64_t mask_t;
#endif
#define MASK_BITS ((int)(sizeof(mask_t) * 8))
#define ONE ((mask_t)1)
#define MARK 0x80000000u
#define MAX_STATES 0x40000000u
#define CHECK_EVERY 4096

enum { K_READ = 0, K_SET = 1, K_CAS = 2, K_NEVER = 3, K_APPEND = 4, K_GENERIC = 5 };
enum { R_FALSE = 0, R_TRUE = 1, R_PRUNED = 2, R_GAVE_UP = -1, R_ERROR = -2 };

static inline int lowbit(mask_t m) {
#ifdef __SIZEOF_INT128__
    uint64_t lo = (uint64_t)m;
    return lo ? __builtin_ctzll(lo) : 64 + __builtin_ctzll((uint64_t)(m >> 64));
#else
    return __builtin_ctzll(m);
#endif
}

static inline int popcount(mask_t m) {
#ifdef __SIZEOF_INT128__
    return __builtin_popcountll((uint64_t)m) + __builtin_popcountll((uint64_t)(m >> 64));
#else
    return __builtin_popcountll(m);
#endif
}

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t hash_cfg(uint32_t s, mask_t L) {
#ifdef __SIZEOF_INT128__
    return mix((uint64_t)L ^ mix((uint64_t)(L >> 64) ^ ((uint64_t)s << 20)));
#else
    return mix((uint64_t)L ^ ((uint64_t)s * 0x9e3779b97f4a7c15ULL));
#endif
}

/* --- a set of configurations (state, mask), cleared in O(1) by bumping a generation stamp ------------------- */

typedef struct {
    mask_t L;
    uint32_t s;
} cfg_t;

typedef struct {
    cfg_t *e;
    uint32_t *stamp;
    size_t cap, n;
    uint32_t gen;
} cset_t;

static int cset_init(cset_t *c, size_t cap) {
    c->e = PyMem_Malloc(cap * sizeof(cfg_t));
    c->stamp = PyMem_Calloc(cap, sizeof(uint32_t));
    c->cap = cap;
    c->n = 0;
    c->gen = 1;
    if (!c->e || !c->stamp) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void cset_free(cset_t *c) {
    PyMem_Free(c->e);
    PyMem_Free(c->stamp);
    c->e = NULL;
    c->stamp = NULL;
}

static void cset_clear(cset_t *c) {
    c->n = 0;
    if (++c->gen == 0) {  /* wrapped: really clear */
        memset(c->stamp, 0, c->cap * sizeof(uint32_t));
        c->gen = 1;
    }
}

static int cset_grow(cset_t *c) {
    size_t ncap = c->cap * 2;
    cfg_t *ne = PyMem_Malloc(ncap * sizeof(cfg_t));
    uint32_t *ns = PyMem_Calloc(ncap, sizeof(uint32_t));
    if (!ne || !ns) {
        PyMem_Free(ne);
        PyMem_Free(ns);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < c->cap; i++) {
        if (c->stamp[i] != c->gen)
            continue;
        size_t j = hash_cfg(c->e[i].s, c->e[i].L) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ne[j] = c->e[i];
        ns[j] = 1;
    }
    PyMem_Free(c->e);
    PyMem_Free(c->stamp);
    c->e = ne;
    c->stamp = ns;
    c->cap = ncap;
    c->gen = 1;
    return 0;
}

/* 1 if added, 0 if present, -1 on error */
static inline int cset_add(cset_t *c, uint32_t s, mask_t L) {
    if ((c->n + 1) * 2 > c->cap && cset_grow(c) < 0)
        return -1;
    size_t m = c->cap - 1, j = hash_cfg(s, L) & m;
    while (c->stamp[j] == c->gen) {
        if (c->e[j].s == s && c->e[j].L == L)
            return 0;
        j = (j + 1) & m;
    }
    c->stamp[j] = c->gen;
    c->e[j].s = s;
    c->e[j].L = L;
    c->n++;
    return 1;
}

static inline int cset_has(const cset_t *c, uint32_t s, mask_t L) {
    size_t m = c->cap - 1, j = hash_cfg(s, L) & m;
    while (c->stamp[j] == c->gen) {
        if (c->e[j].s == s && c->e[j].L == L)
            return 1;
        j = (j + 1) & m;
    }
    return 0;
}

/* --- growable arrays ------------------------------------------------------------------------------------------ */

typedef struct {
    cfg_t *v;
    size_t n, cap;
} cvec_t;

static inline int cvec_push(cvec_t *a, uint32_t s, mask_t L) {
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 64;
        cfg_t *nv = PyMem_Realloc(a->v, ncap * sizeof(cfg_t));
        if (!nv) {
            PyErr_NoMemory();
            return -1;
        }
        a->v = nv;
        a->cap = ncap;
    }
    a->v[a->n].s = s;
    a->v[a->n].L = L;
    a->n++;
    return 0;
}

/* --- transition cache: (op's cache id, state) -> new state or -1 (illegal) ------------------------------------- */

typedef struct {
    uint64_t *k;  /* key + 1; 0 = empty */
    int32_t *v;
    size_t cap, n;
} tcache_t;

static int tc_init(tcache_t *t, size_t cap) {
    t->k = PyMem_Calloc(cap, sizeof(uint64_t));
    t->v = PyMem_Malloc(cap * sizeof(int32_t));
    t->cap = cap;
    t->n = 0;
    if (!t->k || !t->v) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void tc_free(tcache_t *t) {
    PyMem_Free(t->k);
    PyMem_Free(t->v);
}

static inline int tc_get(const tcache_t *t, uint64_t key, int32_t *out) {
    size_t m = t->cap - 1, j = mix(key) & m;
    key += 1;
    while (t->k[j]) {
        if (t->k[j] == key) {
            *out = t->v[j];
            return 1;
        }
        j = (j + 1) & m;
    }
    return 0;
}

static int tc_put(tcache_t *t, uint64_t key, int32_t val) {
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap * 2;
        uint64_t *nk = PyMem_Calloc(ncap, sizeof(uint64_t));
        int32_t *nv = PyMem_Malloc(ncap * sizeof(int32_t));
        if (!nk || !nv) {
            PyMem_Free(nk);
            PyMem_Free(nv);
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->k[i])
                continue;
            size_t j = mix(t->k[i] - 1) & (ncap - 1);
            while (nk[j])
                j = (j + 1) & (ncap - 1);
            nk[j] = t->k[i];
            nv[j] = t->v[i];
        }
        PyMem_Free(t->k);
        PyMem_Free(t->v);
        t->k = nk;
        t->v = nv;
        t->cap = ncap;
    }
    size_t m = t->cap - 1, j = mix(key) & m;
    while (t->k[j])
        j = (j + 1) & m;
    t->k[j] = key + 1;
    t->v[j] = val;
    t->n++;
    return 0;
}

/* --- the search ------------------------------------------------------------------------------------------------ */

typedef struct {
    int kind;
    int32_t a, b;          /* state ids (K_READ: expected; K_SET: target; K_CAS: old, new) */
    PyObject *f, *inp, *out;   /* owned; K_APPEND's suffix is inp */
    int info, blind, cls, dropped;
} op_t;

typedef struct {
    PyObject *ids;         /* state -> id */
    PyObject *states;      /* id -> state */
    mask_t *rmask;         /* id -> bits of pending reads legal exactly there */
    size_t rcap;
    PyObject *step;
    op_t *ops;             /* every invoke of the history, in order (dropped ones marked) */
    Py_ssize_t nops;
    int32_t *events;       /* op number for a call, ~op number for a return, kept ops only */
    Py_ssize_t nev;
    int nclasses, has_info;   /* has_info: how many unknown-outcome ops are kept */
    int32_t junk;             /* the junk state's id (see observers_t), -1: none */
    tcache_t tc;
} ctx_t;

static int64_t intern(ctx_t *c, PyObject *obj) {
    PyObject *got = PyDict_GetItemWithError(c->ids, obj);
    if (got)
        return PyLong_AsLongLong(got);
    if (PyErr_Occurred())
        return -1;
    Py_ssize_t id = PyList_GET_SIZE(c->states);
    if ((size_t)id >= MAX_STATES) {
        PyErr_SetString(PyExc_OverflowError, "too many states");
        return -1;
    }
    PyObject *idobj = PyLong_FromSsize_t(id);
    if (!idobj)
        return -1;
    int rc = PyDict_SetItem(c->ids, obj, idobj);
    Py_DECREF(idobj);
    if (rc < 0 || PyList_Append(c->states, obj) < 0)
        return -1;
    if ((size_t)id >= c->rcap) {
        size_t ncap = c->rcap * 2;
        mask_t *nr = PyMem_Realloc(c->rmask, ncap * sizeof(mask_t));
        if (!nr) {
            PyErr_NoMemory();
            return -1;
        }
        memset(nr + c->rcap, 0, (ncap - c->rcap) * sizeof(mask_t));
        c->rmask = nr;
        c->rcap = ncap;
    }
    return id;
}

/* The state op ``n`` leaves when taking effect in state ``s``: >= 0, -1 when illegal there, -2 on error. */
static int32_t call_step(ctx_t *c, op_t *o, int32_t s) {
    PyObject *state = PyList_GET_ITEM(c->states, s);
    PyObject *res = PyObject_CallFunctionObjArgs(c->step, state, o->f, o->inp, o->out, NULL);
    if (!res)
        return -2;
    PyObject *seq = PySequence_Tuple(res);
    Py_DECREF(res);
    if (!seq)
        return -2;
    if (PyTuple_GET_SIZE(seq) != 2) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "model.step must return (legal, new_state)");
        return -2;
    }
    int legal = PyObject_IsTrue(PyTuple_GET_ITEM(seq, 0));
    if (legal < 0) {
        Py_DECREF(seq);
        return -2;
    }
    int64_t r = -1;
    if (legal) {
        r = intern(c, PyTuple_GET_ITEM(seq, 1));
        if (r < 0)
            r = -2;
    }
    Py_DECREF(seq);
    return (int32_t)r;
}

static inline int32_t trans(ctx_t *c, int n, int32_t s) {
    op_t *o = &c->ops[n];
    if (s == c->junk)   /* see observers_t */
        return o->kind == K_SET ? o->a : o->kind == K_APPEND ? s : -1;
    switch (o->kind) {
    case K_SET:
        return o->a;
    case K_CAS:
        return s == o->a ? o->b : -1;
    case K_NEVER:
        return -1;
    default:
        break;
    }
    /* unknown-outcome ops of a class share their cache entries */
    uint64_t tid = o->cls >= 0 ? (uint64_t)(1u << 31) + (uint64_t)o->cls : (uint64_t)n;
    uint64_t key = (tid << 32) | (uint32_t)s;
    int32_t r;
    if (tc_get(&c->tc, key, &r))
        return r;
    if (o->kind == K_APPEND && PyUnicode_CheckExact(PyList_GET_ITEM(c->states, s))) {
        PyObject *ns = PyUnicode_Concat(PyList_GET_ITEM(c->states, s), o->inp);
        if (!ns)
            return -2;
        int64_t id = intern(c, ns);
        Py_DECREF(ns);
        r = id < 0 ? -2 : (int32_t)id;
    } else {
        r = call_step(c, o, s);
    }
    if (r == -2 || tc_put(&c->tc, key, r) < 0)
        return -2;
    return r;
}

/* Sort configurations by (state, other bits, number of unknown-outcome ops used): for dominance. */
static mask_t g_infomask;

static int cmp_dom(const void *pa, const void *pb) {
    const cfg_t *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s < b->s ? -1 : 1;
    mask_t x = a->L & ~g_infomask, y = b->L & ~g_infomask;
    if (x != y)
        return x < y ? -1 : 1;
    int pa_ = popcount(a->L & g_infomask), pb_ = popcount(b->L & g_infomask);
    return pa_ - pb_;
}

/* Keep, of configurations that agree on the state and the other bits, those whose used unknown-outcome ops are
 * not a superset of a kept one's; with keep > 0 at most ``keep`` of them (the ones that used fewest), setting
 * *pruned when that drops one. Compacts ``v`` in place. */
static void dominance(cvec_t *v, mask_t infomask, int keep, int *pruned) {
    if (v->n < 2)
        return;
    g_infomask = infomask;
    qsort(v->v, v->n, sizeof(cfg_t), cmp_dom);
    size_t out = 0, gstart = 0;
    for (size_t i = 0; i < v->n; i++) {
        cfg_t x = v->v[i];
        if (out > gstart) {
            cfg_t *g = &v->v[gstart];
            if (g->s != x.s || (g->L & ~infomask) != (x.L & ~infomask))
                gstart = out;
        }
        mask_t im = x.L & infomask;
        int dominated = 0;
        for (size_t j = gstart; j < out; j++) {
            if ((v->v[j].L & infomask & ~im) == 0) {
                dominated = 1;
                break;
            }
        }
        if (dominated)
            continue;
        if (keep > 0 && out - gstart >= (size_t)keep) {
            *pruned = 1;
            continue;
        }
        v->v[out++] = x;
    }
    v->n = out;
}

/* --- from a history to ops and events ------------------------------------------------------------------------- */

/* What the entry point gets from the wrapper about the model and the value helpers. */
typedef struct {
    int code;              /* M_GENERIC or a built-in model compiled here */
    PyObject *read_only, *read_expect, *overwrites;   /* the model's hints (M_GENERIC only) */
    PyObject *unknown, *no_expect;                    /* checkers.models.UNKNOWN / NO_EXPECT */
    PyObject *freeze, *class_key;                     /* _freeze(v); class_key(f, input) -> hashable */
} model_t;

enum { M_GENERIC = 0, M_REGISTER = 1, M_CAS_REGISTER = 2, M_KV = 3 };

static PyObject *s_invoke, *s_ok, *s_fail, *s_info, *s_read, *s_get, *s_write, *s_put, *s_cas, *s_append,
    *s_type, *s_process, *s_f, *s_value, *s_empty;

static inline int str_is(PyObject *x, PyObject *interned) {
    if (x == interned)
        return 1;
    if (!PyUnicode_CheckExact(x))
        return 0;
    return PyUnicode_Compare(x, interned) == 0;
}

/* checkers.models._freeze: lists and dicts need the Python function, anything else is its own frozen form. */
static PyObject *freeze(model_t *m, PyObject *v) {
    if (PyList_Check(v) || PyDict_Check(v))
        return PyObject_CallOneArg(m->freeze, v);
    Py_INCREF(v);
    return v;
}

/* checkers.models._kv_norm: a missing value (None) is "". */
static PyObject *kv_norm(model_t *m, PyObject *v) {
    if (v == Py_None) {
        Py_INCREF(s_empty);
        return s_empty;
    }
    return freeze(m, v);
}

/* checkers.models._pair: a [old, new] list or tuple, frozen (new refs in *a, *b); 0 when not such a pair. */
static int pair2(model_t *m, PyObject *v, PyObject **a, PyObject **b) {
    if (!(PyList_Check(v) || PyTuple_Check(v)) || PySequence_Size(v) != 2)
        return 0;
    PyObject *x = PySequence_GetItem(v, 0), *y = x ? PySequence_GetItem(v, 1) : NULL;
    if (!y) {
        Py_XDECREF(x);
        return -1;
    }
    *a = freeze(m, x);
    *b = freeze(m, y);
    Py_DECREF(x);
    Py_DECREF(y);
    if (!*a || !*b) {
        Py_XDECREF(*a);
        Py_XDECREF(*b);
        return -1;
    }
    return 1;
}

static int set_state(ctx_t *c, int32_t *slot, PyObject *v /* stolen */) {
    if (!v)
        return -1;
    int64_t id = intern(c, v);
    Py_DECREF(v);
    if (id < 0)
        return -1;
    *slot = (int32_t)id;
    return 0;
}

/* For a built-in model: the op's kind and states, as checkers.models' step and hints define them. An
 * unknown-outcome read-only op, or one legal nowhere, is dropped (it constrains nothing). */
static int classify_builtin(ctx_t *c, model_t *m, op_t *o) {
    PyObject *f = o->f, *a = NULL, *b = NULL;
    int is_read = str_is(f, s_read) || str_is(f, s_get);
    if (is_read) {
        if (o->info) {
            o->dropped = 1;
            return 0;
        }
        o->kind = K_READ;
        return set_state(c, &o->a, m->code == M_KV ? kv_norm(m, o->out) : freeze(m, o->out));
    }
    if (str_is(f, s_write) || (m->code == M_KV && str_is(f, s_put))) {
        o->kind = K_SET;
        o->blind = 1;
        return set_state(c, &o->a, m->code == M_KV ? kv_norm(m, o->inp) : freeze(m, o->inp));
    }
    if (m->code != M_REGISTER && str_is(f, s_cas)) {
        int rc = pair2(m, o->inp, &a, &b);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            o->kind = K_NEVER;
        } else {
            if (m->code == M_KV) {
                PyObject *x = kv_norm(m, a), *y = kv_norm(m, b);
                Py_DECREF(a);
                Py_DECREF(b);
                a = x;
                b = y;
                if (!a || !b) {
                    Py_XDECREF(a);
                    Py_XDECREF(b);
                    return -1;
                }
            }
            /* the hints' test (checkers.models._cas_noop) is on the frozen values before _kv_norm */
            int same = 0;
            if (m->code == M_CAS_REGISTER) {
                same = PyObject_RichCompareBool(a, b, Py_EQ);
            } else {
                PyObject *x = NULL, *y = NULL;
                int r2 = pair2(m, o->inp, &x, &y);
                if (r2 < 0) {
                    Py_DECREF(a);
                    Py_DECREF(b);
                    return -1;
                }
                same = PyObject_RichCompareBool(x, y, Py_EQ);
                Py_DECREF(x);
                Py_DECREF(y);
            }
            if (same < 0) {
                Py_DECREF(a);
                Py_DECREF(b);
                return -1;
            }
            if (same) {  /* legal only where it changes nothing: a read */
                Py_DECREF(b);
                if (o->info) {
                    Py_DECREF(a);
                    o->dropped = 1;
                    return 0;
                }
                o->kind = K_READ;
                return set_state(c, &o->a, a);
            }
            o->kind = K_CAS;
            if (set_state(c, &o->a, a) < 0) {
                Py_DECREF(b);
                return -1;
            }
            return set_state(c, &o->b, b);
        }
    } else if (m->code == M_KV && str_is(f, s_append)) {
        o->kind = PyUnicode_CheckExact(o->inp) ? K_APPEND : K_GENERIC;
    } else {
        o->kind = K_NEVER;
    }
    if (o->kind == K_NEVER && o->info)
        o->dropped = 1;
    return 0;
}

/* For any other model: ask its hints (read_only, read_expect, overwrites); its step runs on cache misses. */
static int classify_generic(ctx_t *c, model_t *m, op_t *o) {
    PyObject *r = PyObject_CallFunctionObjArgs(m->read_only, o->f, o->inp, o->out, NULL);
    if (!r)
        return -1;
    int ro = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (ro < 0)
        return -1;
    if (ro) {
        if (o->info) {
            o->dropped = 1;
            return 0;
        }
        PyObject *e = PyObject_CallFunctionObjArgs(m->read_expect, o->f, o->inp, o->out, NULL);
        if (!e)
            return -1;
        if (e != m->no_expect) {
            o->kind = K_READ;
            return set_state(c, &o->a, e);
        }
        Py_DECREF(e);
        o->kind = K_GENERIC;  /* read-only, but legal in several states: searched as any other op */
        return 0;
    }
    o->kind = K_GENERIC;
    r = PyObject_CallFunctionObjArgs(m->overwrites, o->f, o->inp, o->out, NULL);
    if (!r)
        return -1;
    o->blind = PyObject_IsTrue(r);
    Py_DECREF(r);
    return o->blind < 0 ? -1 : 0;
}

/* Pair the history's ops by process (an invoke whose process invokes again first, or never completes it, has
 * an unknown outcome; a completion without its invoke is ignored; fail ops are dropped), classify each op, number
 * the classes of interchangeable unknown-outcome ops, and list the events of the ops kept. */
static int compile(ctx_t *c, model_t *m, PyObject *history) {
    PyObject *seq = PySequence_Fast(history, "history must be a sequence");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *open = PyDict_New();       /* process -> op number of its open invoke */
    PyObject *classes = PyDict_New();    /* class key -> class number */
    int32_t *raw = PyMem_Malloc((n ? n : 1) * sizeof(int32_t));
    c->ops = PyMem_Calloc(n ? n : 1, sizeof(op_t));
    c->events = PyMem_Malloc((n ? n : 1) * sizeof(int32_t));
    int rc = -1;
    Py_ssize_t nraw = 0;
    if (!open || !classes || !raw || !c->ops || !c->events) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *op = items[i];
        PyObject *t = PyObject_GetAttr(op, s_type);
        if (!t)
            goto out;
        PyObject *proc = PyObject_GetAttr(op, s_process);
        if (!proc) {
            Py_DECREF(t);
            goto out;
        }
        if (str_is(t, s_invoke)) {
            Py_DECREF(t);
            op_t *o = &c->ops[c->nops++];   /* counted at once: the clean-up releases what it holds */
            o->f = PyObject_GetAttr(op, s_f);
            o->inp = o->f ? PyObject_GetAttr(op, s_value) : NULL;
            Py_INCREF(m->unknown);
            o->out = m->unknown;
            o->info = 1;
            o->cls = -1;
            if (!o->inp) {
                Py_DECREF(proc);
                goto out;
            }
            PyObject *num = PyLong_FromSsize_t(c->nops - 1);
            int r2 = num ? PyDict_SetItem(open, proc, num) : -1;
            Py_XDECREF(num);
            Py_DECREF(proc);
            if (r2 < 0)
                goto out;
            raw[nraw++] = (int32_t)(c->nops - 1);
            continue;
        }
        PyObject *num = PyDict_GetItemWithError(open, proc);
        if (!num) {
            Py_DECREF(proc);
            Py_DECREF(t);
            if (PyErr_Occurred())
                goto out;
            continue;    /* a completion without its invoke */
        }
        op_t *o = &c->ops[PyLong_AsSsize_t(num)];
        int32_t k = (int32_t)PyLong_AsSsize_t(num);
        int r2 = PyDict_DelItem(open, proc);
        Py_DECREF(proc);
        if (r2 < 0) {
            Py_DECREF(t);
            goto out;
        }
        if (str_is(t, s_fail)) {
            o->dropped = 1;
        } else if (!str_is(t, s_info)) {
            PyObject *v = PyObject_GetAttr(op, s_value);
            if (!v) {
                Py_DECREF(t);
                goto out;
            }
            Py_SETREF(o->out, v);
            o->info = 0;
            raw[nraw++] = ~k;
        }
        Py_DECREF(t);
    }
    for (Py_ssize_t i = 0; i < c->nops; i++) {
        op_t *o = &c->ops[i];
        if (o->dropped)
            continue;
        if ((m->code == M_GENERIC ? classify_generic(c, m, o) : classify_builtin(c, m, o)) < 0)
            goto out;
        if (o->dropped || !o->info || o->kind == K_READ)
            continue;
        c->has_info++;
        PyObject *key = PyObject_CallFunctionObjArgs(m->class_key, o->f, o->inp, NULL);
        if (!key)
            goto out;
        PyObject *got = PyDict_GetItemWithError(classes, key);
        if (got) {
            o->cls = (int)PyLong_AsLong(got);
        } else if (PyErr_Occurred()) {
            Py_DECREF(key);
            goto out;
        } else {
            PyObject *num = PyLong_FromLong(c->nclasses);
            int r2 = num ? PyDict_SetItem(classes, key, num) : -1;
            Py_XDECREF(num);
            if (r2 < 0) {
                Py_DECREF(key);
                goto out;
            }
            o->cls = c->nclasses++;
        }
        Py_DECREF(key);
    }
    for (Py_ssize_t i = 0; i < nraw; i++) {
        int32_t k = raw[i] >= 0 ? raw[i] : ~raw[i];
        if (!c->ops[k].dropped)
            c->events[c->nev++] = raw[i];
    }
    rc = 0;
out:
    Py_DECREF(seq);
    Py_XDECREF(open);
    Py_XDECREF(classes);
    PyMem_Free(raw);
    return rc;
}

/* --- unobservable states ----------------------------------------------------------------------------------------- */
/* A state no op still to come can observe is as good as any other such state: the searches replace it with one
 * "junk" state, so the orders of appends a later put wiped out before any read saw them are one node, not every
 * order. The observers of a state s are the reads of a value that extends s and the compare-and-sets whose old
 * value extends s (extends: see below; for a register, equality). When none of them returns at or after the
 * current point (an op with an unknown outcome never returns), no op still to be placed can tell s apart from
 * another such state: an append leaves another unobservable state (whatever extends s + a extends s), a read or
 * a compare-and-set is illegal in both, an overwrite leaves the same state in both. So the junk state: an
 * overwrite leaves its value, an append leaves junk, any other op is illegal there. For a kv key only str
 * states become junk (an append is legal on every str, and on junk, but not on an int a put left). Not used
 * when an op runs through the model's step (K_GENERIC): what it observes is not known. */

typedef struct {
    PyObject **vals;     /* the str values observers expect, sorted (borrowed from c->states) */
    int32_t *table;      /* sparse table of the largest return event index over ranges of vals */
    int levels;
    Py_ssize_t n;
    int32_t *eq;         /* state id -> largest return event index of an observer expecting exactly it, or -1 */
    Py_ssize_t neq;
    int32_t *cache;      /* state id -> obs_last(s), -2 unknown */
    Py_ssize_t ncache;
    int code;            /* the model these observers were built for */
} observers_t;

#define NEVER_RETURNS 0x7fffffff

static void observers_free(observers_t *O) {
    PyMem_Free(O->vals);
    PyMem_Free(O->table);
    PyMem_Free(O->eq);
    PyMem_Free(O->cache);
    memset(O, 0, sizeof *O);
}

typedef struct {
    PyObject *v;
    int32_t ret;
} obs_pair_t;

static int cmp_pair(const void *a, const void *b) {
    return PyUnicode_Compare(((const obs_pair_t *)a)->v, ((const obs_pair_t *)b)->v);
}

/* Build the observers of a part whose ops are all compiled (no K_GENERIC); c->junk gets the junk state's id.
 * Leaves c->junk = -1 (no junk states) when it does not apply. */
static int observers_build(ctx_t *c, observers_t *O, int code) {
    memset(O, 0, sizeof *O);
    c->junk = -1;
    if (code != M_REGISTER && code != M_CAS_REGISTER && code != M_KV)
        return 0;
    O->code = code;
    Py_ssize_t nops = c->nops;
    int32_t *ret = PyMem_Malloc((nops ? nops : 1) * sizeof(int32_t));
    if (!ret) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < nops; i++)
        ret[i] = NEVER_RETURNS;
    for (Py_ssize_t i = 0; i < c->nev; i++)
        if (c->events[i] < 0)
            ret[~c->events[i]] = (int32_t)i;
    for (Py_ssize_t i = 0; i < nops; i++)
        if (!c->ops[i].dropped && c->ops[i].kind == K_GENERIC) {
            PyMem_Free(ret);
            return 0;
        }
    O->neq = PyList_GET_SIZE(c->states);
    O->eq = PyMem_Malloc((O->neq ? O->neq : 1) * sizeof(int32_t));
    obs_pair_t *pairs = PyMem_Malloc((nops ? nops : 1) * sizeof(obs_pair_t));
    if (!O->eq || !pairs) {
        PyMem_Free(ret);
        PyMem_Free(pairs);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < O->neq; i++)
        O->eq[i] = -1;
    Py_ssize_t np = 0;
    for (Py_ssize_t i = 0; i < nops; i++) {
        op_t *o = &c->ops[i];
        if (o->dropped || (o->kind != K_READ && o->kind != K_CAS))
            continue;
        if (ret[i] > O->eq[o->a])
            O->eq[o->a] = ret[i];
        PyObject *v = PyList_GET_ITEM(c->states, o->a);
        if (code == M_KV && PyUnicode_CheckExact(v)) {
            pairs[np].v = v;
            pairs[np].ret = ret[i];
            np++;
        }
    }
    PyMem_Free(ret);
    qsort(pairs, np, sizeof(obs_pair_t), cmp_pair);
    O->n = np;
    int levels = 1;
    while (((Py_ssize_t)1 << levels) <= np)
        levels++;
    O->levels = levels;
    O->vals = PyMem_Malloc((np ? np : 1) * sizeof(PyObject *));
    O->table = PyMem_Malloc((size_t)levels * (np ? np : 1) * sizeof(int32_t));
    if (!O->vals || !O->table) {
        PyMem_Free(pairs);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        O->vals[i] = pairs[i].v;
        O->table[i] = pairs[i].ret;
    }
    PyMem_Free(pairs);
    for (int k = 1; k < levels; k++) {
        Py_ssize_t half = (Py_ssize_t)1 << (k - 1);
        int32_t *prev = O->table + (size_t)(k - 1) * np, *cur = O->table + (size_t)k * np;
        for (Py_ssize_t i = 0; i + 2 * half <= np; i++)
            cur[i] = prev[i] > prev[i + half] ? prev[i] : prev[i + half];
    }
    PyObject *junk = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (!junk)
        return -1;
    int64_t id = intern(c, junk);
    Py_DECREF(junk);
    if (id < 0)
        return -1;
    c->junk = (int32_t)id;
    return 0;
}

/* The largest return event index of an op that can observe state s (NEVER_RETURNS when one never returns, or
 * when it can't be told); -1 when none. */
static int32_t obs_last(ctx_t *c, observers_t *O, int32_t s) {
    int code = O->code;
    if (s < O->ncache && O->cache[s] != -2)
        return O->cache[s];
    PyObject *v = PyList_GET_ITEM(c->states, s);
    int32_t r;
    if (code == M_KV && !PyUnicode_CheckExact(v)) {
        /* only a str takes every append (the junk state does): an int, say, takes none */
        r = NEVER_RETURNS;
    } else if (code == M_KV && PyUnicode_CheckExact(v)) {
        /* the values that start with v are a block of the sorted list, from the first one >= v */
        Py_ssize_t lo = 0, hi = O->n;
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            if (PyUnicode_Compare(O->vals[mid], v) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        Py_ssize_t a = lo, b = O->n;
        while (a < b) {
            Py_ssize_t mid = (a + b) / 2;
            Py_ssize_t t = PyUnicode_Tailmatch(O->vals[mid], v, 0, PY_SSIZE_T_MAX, -1);
            if (t < 0)
                return NEVER_RETURNS;
            if (t)
                a = mid + 1;
            else
                b = mid;
        }
        r = -1;
        if (a > lo) {
            int k = 0;
            while (((Py_ssize_t)1 << (k + 1)) <= a - lo)
                k++;
            int32_t *row = O->table + (size_t)k * O->n;
            int32_t x = row[lo], y = row[a - ((Py_ssize_t)1 << k)];
            r = x > y ? x : y;
        }
    } else {
        r = s < O->neq ? O->eq[s] : -1;
    }
    if (s >= O->ncache) {
        Py_ssize_t ncap = O->ncache ? O->ncache : 256;
        while (ncap <= s)
            ncap *= 2;
        int32_t *nc = PyMem_Realloc(O->cache, ncap * sizeof(int32_t));
        if (!nc)
            return r;   /* not cached: still right */
        for (Py_ssize_t i = O->ncache; i < ncap; i++)
            nc[i] = -2;
        O->cache = nc;
        O->ncache = ncap;
    }
    O->cache[s] = r;
    return r;
}

/* s, or the junk state when no op that returns at or after event ``ei`` can observe s. */
static inline int32_t canon(ctx_t *c, observers_t *O, int32_t s, Py_ssize_t ei) {
    if (c->junk < 0 || s == c->junk || s < 0)
        return s;
    return obs_last(c, O, s) < ei ? c->junk : s;
}

/* --- dead states: reads that can no longer be placed ---------------------------------------------------------- */
/* For the built-in models both searches drop a node (state s, some ops placed) that can't lead to a linearization
 * because of a read not placed yet: every read must still be placed, in a state equal to the value it returned,
 * and between now and then only ops called before it returns can take effect. Ops that merely extend the state
 * (a kv append: the value only grows) can't undo anything; so when ``s`` does not extend to the read's value and
 * no op that may still take effect before the read returns leaves a state that extends to it, the node is dead.
 * For a register (no extending ops) this says: a read needs its value held now or written by an op that may still
 * take effect before it returns. It is what makes a kv key's reads pin the order of the appends they saw, instead
 * of every order of overlapping appends being kept until a return rules it out. */

typedef struct {
    int code;            /* M_REGISTER, M_CAS_REGISTER, M_KV; 0: no pruning (any other model) */
    int32_t *target;     /* op -> the state it leaves wherever it is legal; -1 any; -2 none new (a read, an op
                          * legal nowhere, an append that only extends) */
    int32_t *rs_off;     /* K_READ op -> its slice of rs_list: the ops with a target called while it is pending */
    int32_t *rs_list;
    int32_t *callidx;    /* op -> index of its call event */
    tcache_t ext;        /* (s, e) -> extends? */
} prune_t;

static void prune_free(prune_t *P) {
    PyMem_Free(P->target);
    PyMem_Free(P->rs_off);
    PyMem_Free(P->rs_list);
    PyMem_Free(P->callidx);
    if (P->ext.k)
        tc_free(&P->ext);
    memset(P, 0, sizeof *P);
}

static int prune_build(ctx_t *c, prune_t *P, int code) {
    Py_ssize_t nops = c->nops, ne = c->nev;
    size_t nb = (size_t)(nops ? nops : 1);
    memset(P, 0, sizeof *P);
    P->code = (code == M_REGISTER || code == M_CAS_REGISTER || code == M_KV) ? code : 0;
    P->target = PyMem_Malloc(nb * sizeof(int32_t));
    P->rs_off = PyMem_Calloc(nb + 1, sizeof(int32_t));
    P->callidx = PyMem_Malloc(nb * sizeof(int32_t));
    int32_t *open_reads = PyMem_Malloc(nb * sizeof(int32_t)), *fill = PyMem_Malloc(nb * sizeof(int32_t));
    if (!P->target || !P->rs_off || !P->callidx || !open_reads || !fill || tc_init(&P->ext, 256) < 0) {
        PyMem_Free(open_reads);
        PyMem_Free(fill);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < nops; i++) {
        op_t *o = &c->ops[i];
        P->callidx[i] = -1;
        if (o->kind == K_READ || o->kind == K_NEVER || o->kind == K_APPEND)
            P->target[i] = -2;
        else if (o->kind == K_SET)
            P->target[i] = o->a;
        else if (o->kind == K_CAS)
            P->target[i] = o->b;
        else
            P->target[i] = -1;
    }
    for (Py_ssize_t i = 0; i < ne; i++)
        if (c->events[i] >= 0)
            P->callidx[c->events[i]] = (int32_t)i;
    for (int pass = 0; pass < 2; pass++) {
        int nopen = 0;
        for (Py_ssize_t i = 0; i < ne; i++) {
            int32_t ev = c->events[i];
            if (ev < 0) {
                for (int j = 0; j < nopen; j++)
                    if (open_reads[j] == ~ev) {
                        open_reads[j] = open_reads[--nopen];
                        break;
                    }
                continue;
            }
            if (c->ops[ev].kind == K_READ) {
                open_reads[nopen++] = ev;
            } else if (P->target[ev] != -2) {
                for (int j = 0; j < nopen; j++) {
                    if (pass == 0)
                        P->rs_off[open_reads[j] + 1]++;
                    else
                        P->rs_list[fill[open_reads[j]]++] = ev;
                }
            }
        }
        if (pass == 0) {
            for (Py_ssize_t i = 0; i < nops; i++)
                P->rs_off[i + 1] += P->rs_off[i];
            size_t total = (size_t)P->rs_off[nops];
            P->rs_list = PyMem_Malloc((total ? total : 1) * sizeof(int32_t));
            if (!P->rs_list) {
                PyMem_Free(open_reads);
                PyMem_Free(fill);
                PyErr_NoMemory();
                return -1;
            }
            for (Py_ssize_t i = 0; i < nops; i++)
                fill[i] = P->rs_off[i];
        }
    }
    PyMem_Free(open_reads);
    PyMem_Free(fill);
    return 0;
}

/* Whether state ``e`` can follow state ``s`` by ops that only extend the state: for a register (no such ops)
 * only ``e == s``; for a kv key, ``e`` a str or tuple that starts with ``s`` (appends). Cached. 1, 0, -1 on error. */
static int extends(ctx_t *c, prune_t *P, int32_t s, int32_t e) {
    if (s == e)
        return 1;
    if (P->code != M_KV || s < 0 || e < 0)
        return 0;
    uint64_t key = ((uint64_t)(uint32_t)s << 32) | (uint32_t)e;
    int32_t r;
    if (tc_get(&P->ext, key, &r))
        return r;
    PyObject *a = PyList_GET_ITEM(c->states, s), *b = PyList_GET_ITEM(c->states, e);
    r = 0;
    if (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b)) {
        Py_ssize_t t = PyUnicode_Tailmatch(b, a, 0, PY_SSIZE_T_MAX, -1);
        if (t < 0)
            return -1;
        r = (int32_t)t;
    } else if (PyTuple_CheckExact(a) && PyTuple_CheckExact(b) && PyTuple_GET_SIZE(a) <= PyTuple_GET_SIZE(b)) {
        r = 1;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(a) && r; i++) {
            int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(a, i), PyTuple_GET_ITEM(b, i), Py_EQ);
            if (eq < 0)
                return -1;
            r = eq;
        }
    }
    if (tc_put(&P->ext, key, r) < 0)
        return -1;
    return r;
}

/* Whether op ``k``'s target lets a read of ``e`` be placed after it: 1, 0, -1 on error. */
static inline int target_reaches(ctx_t *c, prune_t *P, int32_t k, int32_t e) {
    int32_t t = P->target[k];
    if (t == -1)
        return 1;
    if (t == -2)
        return 0;
    return extends(c, P, t, e);
}

/* The breadth-first search's test: is the node (s, L) dead because of a pending read in ``reads`` not in L?
 * ``resets``: bits of pending ops with a target (those not in L may still take effect); ``ei``: the current
 * event (ops of a read's interval called after it may too). 1 dead, 0 not, -1 on error. */
static int bfs_dead(ctx_t *c, prune_t *P, uint32_t s, mask_t L, mask_t reads, mask_t resets, const int *bit_op,
                    Py_ssize_t ei) {
    mask_t rb = reads & ~L;
    while (rb) {
        int bi = lowbit(rb);
        rb &= rb - 1;
        int rd = bit_op[bi];
        int32_t e = c->ops[rd].a;
        int x = extends(c, P, (int32_t)s, e);
        if (x)
            goto next;   /* 1, or -1: the error goes out below */
        mask_t db = resets & ~L;
        while (db) {
            int j = lowbit(db);
            db &= db - 1;
            x = target_reaches(c, P, bit_op[j], e);
            if (x)
                goto next;
        }
        for (int32_t i = P->rs_off[rd]; i < P->rs_off[rd + 1]; i++) {
            int32_t k = P->rs_list[i];
            if (P->callidx[k] <= ei)
                continue;   /* called already: pending (above) or returned (placed everywhere) */
            x = target_reaches(c, P, k, e);
            if (x)
                goto next;
        }
        return 1;
    next:
        if (x < 0)
            return -1;
    }
    return 0;
}

/* --- the search ------------------------------------------------------------------------------------------------ */

typedef struct {
    mask_t L;
    uint32_t s;  /* | MARK for a marked node */
} node_t;

/* One pass of the search over the compiled history; returns R_*. */
static int run_search(ctx_t *c, prune_t *P, observers_t *O, PyObject *init_state, PyObject *check, int keep,
                      long long max_steps) {
    int result = R_ERROR;
    cset_t seen, newset;
    memset(&seen, 0, sizeof seen);
    memset(&newset, 0, sizeof newset);
    cvec_t cur = {0}, nxt = {0};
    node_t *stack = NULL;
    size_t stack_cap = 256;
    int bit_op[MASK_BITS];
    mask_t prev_bit[MASK_BITS];   /* unknown-outcome op's bit -> bit of the class member called before it */
    int free_bits[MASK_BITS];
    int nfree = 0, next_bit = 0;
    int32_t *bit_of = PyMem_Calloc(c->nops ? c->nops : 1, sizeof(int32_t));   /* op -> its bit while pending */
    mask_t *class_last = PyMem_Calloc(c->nclasses ? c->nclasses : 1, sizeof(mask_t));   /* class -> last bit */
    mask_t cmask = 0;           /* pending ops that change the state and complete */
    mask_t infomask = 0;        /* called unknown-outcome ops (pending forever) */
    mask_t iclass_first = 0;    /* ... that are the first called of their class */
    mask_t blindmask = 0;       /* pending overwrites, unknown-outcome or not */
    mask_t readbits = 0;        /* pending reads (K_READ) */
    mask_t resetbits = 0;       /* pending ops with a target (see prune_t), unknown-outcome or not */
    int pruned = 0;
    long long steps = 0, total = 0;
    stack = PyMem_Malloc(stack_cap * sizeof(node_t));
    if (!bit_of || !class_last || !stack) {
        PyErr_NoMemory();
        goto done;
    }
    if (cset_init(&seen, 256) < 0 || cset_init(&newset, 256) < 0)
        goto done;
    memset(c->rmask, 0, c->rcap * sizeof(mask_t));
    int64_t s_init = intern(c, init_state);
    if (s_init < 0 || cvec_push(&cur, (uint32_t)s_init, 0) < 0)
        goto done;

    for (Py_ssize_t ei = 0; ei < c->nev; ei++) {
        int32_t ev = c->events[ei];
        if (ev >= 0) {
            /* a call: the op becomes pending and gets a bit */
            op_t *o = &c->ops[ev];
            int bi;
            if (nfree)
                bi = free_bits[--nfree];
            else if (next_bit < MASK_BITS)
                bi = next_bit++;
            else {
                result = R_GAVE_UP;
                goto done;
            }
            mask_t b = ONE << bi;
            bit_op[bi] = (int)ev;
            bit_of[ev] = bi;
            if (P->code && P->target[ev] != -2)
                resetbits |= b;
            if (o->kind == K_READ) {
                c->rmask[o->a] |= b;
                readbits |= b;
                for (size_t i = 0; i < cur.n; i++)  /* placing it where it is legal never hurts */
                    if (cur.v[i].s == (uint32_t)o->a)
                        cur.v[i].L |= b;
                if (P->code) {
                    /* configurations that can never place it are dead */
                    size_t out = 0;
                    for (size_t i = 0; i < cur.n; i++) {
                        int dead = 0;
                        if (!(cur.v[i].L & b)) {
                            dead = bfs_dead(c, P, cur.v[i].s, cur.v[i].L, b, resetbits, bit_op, ei);
                            if (dead < 0)
                                goto done;
                        }
                        if (!dead)
                            cur.v[out++] = cur.v[i];
                    }
                    cur.n = out;
                    if (out == 0) {
                        result = pruned ? R_PRUNED : R_FALSE;
                        goto done;
                    }
                }
            } else if (o->info) {
                infomask |= b;
                prev_bit[bi] = class_last[o->cls];
                if (!prev_bit[bi])
                    iclass_first |= b;
                class_last[o->cls] = b;
                if (o->blind)
                    blindmask |= b;
            } else {
                cmask |= b;
                if (o->blind)
                    blindmask |= b;
            }
            continue;
        }

        /* a return of op n: every configuration must place it now */
        int n = (int)~ev;
        op_t *x = &c->ops[n];
        int xbi = bit_of[n];
        mask_t xb = ONE << xbi, nxb = ~xb;
        int done_fast = 0;
        if (cur.n == 1) {
            cfg_t k0 = cur.v[0];
            if (k0.L & xb) {
                cur.v[0].L = k0.L & nxb;
                done_fast = 1;
            } else if ((cmask & ~k0.L) == xb && !(infomask & ~k0.L)) {
                /* x is the only op that could be placed: try just it */
                int32_t r = trans(c, n, (int32_t)k0.s);
                if (r == -2)
                    goto done;
                r = canon(c, O, r, ei);
                if (r < 0) {
                    result = pruned ? R_PRUNED : R_FALSE;
                    goto done;
                }
                mask_t L2 = k0.L | xb;
                L2 |= c->rmask[r] & ~L2;
                if (P->code) {
                    int dead = bfs_dead(c, P, (uint32_t)r, L2, readbits, resetbits, bit_op, ei);
                    if (dead < 0)
                        goto done;
                    if (dead) {
                        result = pruned ? R_PRUNED : R_FALSE;
                        goto done;
                    }
                }
                cur.v[0].s = (uint32_t)r;
                cur.v[0].L = L2 & nxb;
                done_fast = 1;
            }
        }
        if (!done_fast) {
            /* the closure: from every configuration, place x, possibly after other pending ops */
            cset_clear(&seen);
            cset_clear(&newset);
            nxt.n = 0;
            for (size_t i = 0; i < cur.n; i++) {
                cfg_t k0 = cur.v[i];
                if (k0.L & xb) {
                    int rc = cset_add(&newset, k0.s, k0.L & nxb);
                    if (rc < 0 || (rc && cvec_push(&nxt, k0.s, k0.L & nxb) < 0))
                        goto done;
                    continue;
                }
                int rc = cset_add(&seen, k0.s, k0.L);
                if (rc < 0)
                    goto done;
                if (!rc)
                    continue;
                size_t sp = 0;
                stack[sp].s = k0.s;
                stack[sp].L = k0.L;
                sp++;
                while (sp) {
                    node_t nd = stack[--sp];
                    uint32_t s = nd.s & ~MARK;
                    mask_t L = nd.L;
                    mask_t avail = cmask & ~L;
                    mask_t ia = infomask & ~L;
                    if (ia) {
                        /* of a class, only the member after the last one used */
                        mask_t rest = ia & ~iclass_first;
                        while (rest) {
                            int j = lowbit(rest);
                            rest &= rest - 1;
                            if (!(L & prev_bit[j]))
                                ia &= ~(ONE << j);
                        }
                        avail |= ia;
                    }
                    if (nd.s & MARK)
                        avail &= ~blindmask;
                    while (avail) {
                        int bi = lowbit(avail);
                        mask_t b = ONE << bi;
                        avail &= avail - 1;
                        int on = bit_op[bi];
                        int32_t r = trans(c, on, (int32_t)s);
                        if (r < 0) {
                            if (r == -2)
                                goto done;
                            continue;
                        }
                        r = canon(c, O, r, ei);
                        if (++steps >= CHECK_EVERY) {
                            total += steps;
                            steps = 0;
                            PyObject *ok = PyObject_CallNoArgs(check);
                            if (!ok)
                                goto done;
                            Py_DECREF(ok);
                            if (max_steps >= 0 && total > max_steps) {
                                result = R_GAVE_UP;
                                goto done;
                            }
                        }
                        mask_t L2 = L | b;
                        mask_t add = c->rmask[r] & ~L2;
                        L2 |= add;
                        if (P->code) {
                            int dead = bfs_dead(c, P, (uint32_t)r, L2, readbits, resetbits, bit_op, ei);
                            if (dead < 0)
                                goto done;
                            if (dead)
                                continue;
                        }
                        if (L2 & xb) {
                            int rc2 = cset_add(&newset, (uint32_t)r, L2 & nxb);
                            if (rc2 < 0 || (rc2 && cvec_push(&nxt, (uint32_t)r, L2 & nxb) < 0))
                                goto done;
                            continue;
                        }
                        uint32_t key = (uint32_t)r;
                        if (c->ops[on].info && !add && blindmask) {
                            /* an unknown-outcome op no read follows is only worth it before an op that does
                             * not overwrite (before an overwrite it can be left out): the node is marked and
                             * tries no overwrite next (an unmarked twin beats it) */
                            if (cset_has(&seen, key, L2))
                                continue;
                            key |= MARK;
                        }
                        int rc2 = cset_add(&seen, key, L2);
                        if (rc2 < 0)
                            goto done;
                        if (!rc2)
                            continue;
                        if (sp == stack_cap) {
                            size_t ncap = stack_cap * 2;
                            node_t *ns = PyMem_Realloc(stack, ncap * sizeof(node_t));
                            if (!ns) {
                                PyErr_NoMemory();
                                goto done;
                            }
                            stack = ns;
                            stack_cap = ncap;
                        }
                        stack[sp].s = key;
                        stack[sp].L = L2;
                        sp++;
                    }
                }
            }
            if (infomask && nxt.n > 1)
                dominance(&nxt, infomask, keep, &pruned);
            if (nxt.n == 0) {
                result = pruned ? R_PRUNED : R_FALSE;
                goto done;
            }
            cvec_t tmp = cur;
            cur = nxt;
            nxt = tmp;
        }
        /* x returned and every configuration placed it: free its bit */
        free_bits[nfree++] = xbi;
        readbits &= nxb;
        resetbits &= nxb;
        if (x->kind == K_READ)
            c->rmask[x->a] &= nxb;
        else {
            cmask &= nxb;
            blindmask &= nxb;
        }
        if (++steps >= CHECK_EVERY) {
            total += steps;
            steps = 0;
            PyObject *ok = PyObject_CallNoArgs(check);
            if (!ok)
                goto done;
            Py_DECREF(ok);
        }
    }
    result = R_TRUE;

done:
    PyMem_Free(stack);
    PyMem_Free(cur.v);
    PyMem_Free(nxt.v);
    cset_free(&seen);
    cset_free(&newset);
    PyMem_Free(bit_of);
    PyMem_Free(class_last);
    return result;
}

/* --- a depth-first pass (Wing & Gong with Lowe's cache, as Porcupine runs it) ---------------------------------- */
/* The breadth-first search above keeps every configuration; where ops do not commute (a kv key's appends) the
 * orders of the ops pending at a return are many, and a linearizable part pays for all of them. This pass follows
 * one order at a time instead: it walks the history's events, linearizing the first pending op (in call order)
 * that is legal and leads to a (linearized set, state) not seen before; at a return whose op is not linearized it
 * backtracks. It is exact (True: an order was found; False: every order was ruled out), but it may take many
 * steps: past ``cap`` steps it gives up (R_GAVE_UP) and the breadth-first search decides; so it does when its
 * cache passes DFS_CACHE_BYTES.
 *
 * Three reductions keep it near linear on histories whose ops do not commute (all exact):
 * - The cache key of the linearized set is compact: the last call linearized and the calls before it that are
 *   not (every other op called by then is linearized, none called after it is), so an entry costs about the
 *   concurrency, not the history's length, even while one slow op stays pending.
 * - A read that is legal in the current state and may be linearized now (no return of an op not linearized
 *   comes before its call) is linearized at once and never backtracked over (committed): a linearization that
 *   places it later can place it here instead (reads change nothing, and every op that had to precede it has).
 * - Dead states (only for the built-in models, ``prune``): every read not linearized yet must still be placed,
 *   in a state equal to the value it returned. Between now and then only ops called before it returns can take
 *   effect; when those that do not merely extend the state (appends extend a kv value; a register has none) can't
 *   produce a state the read's value extends, and the current state does not extend to it, the node is dead. A
 *   kv key's reads thus pin the order of the appends they saw, and a register read needs its value held now or
 *   written by an op that may still take effect before it returns. The reads looked at are those called before
 *   the first pending return, and the first one after it (up to EXAMINE_MAX entries).
 * Unknown-outcome ops have no return: they may be linearized any time after their call, or never. Right after
 * one, no overwrite is tried (an unknown-outcome op followed by an overwrite can be left out of a linearization,
 * as in checkers/_lin_search.py), else crashed writes would be tried in every subset; the cache key says whether
 * the last op had an unknown outcome, since that changes what may follow. */

typedef struct {
    uint64_t *hash;   /* hash + 1 (0 = empty) */
    int32_t *state;
    uint64_t *off;    /* into pool */
    uint32_t *len;
    size_t cap, n;
    uint32_t *pool;
    size_t pool_n, pool_cap;
} memo_t;

static size_t memo_bytes(const memo_t *d) {
    return d->cap * (8 + 4 + 8 + 4) + d->pool_cap * 4;
}

static int memo_grow(memo_t *d) {
    size_t ncap = d->cap ? d->cap * 2 : 1024;
    uint64_t *nh = PyMem_Calloc(ncap, sizeof(uint64_t));
    int32_t *ns = PyMem_Malloc(ncap * sizeof(int32_t));
    uint64_t *no = PyMem_Malloc(ncap * sizeof(uint64_t));
    uint32_t *nl = PyMem_Malloc(ncap * sizeof(uint32_t));
    if (!nh || !ns || !no || !nl) {
        PyMem_Free(nh);
        PyMem_Free(ns);
        PyMem_Free(no);
        PyMem_Free(nl);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < d->cap; i++) {
        if (!d->hash[i])
            continue;
        size_t j = mix(d->hash[i] ^ (uint64_t)(uint32_t)d->state[i]) & (ncap - 1);
        while (nh[j])
            j = (j + 1) & (ncap - 1);
        nh[j] = d->hash[i];
        ns[j] = d->state[i];
        no[j] = d->off[i];
        nl[j] = d->len[i];
    }
    PyMem_Free(d->hash);
    PyMem_Free(d->state);
    PyMem_Free(d->off);
    PyMem_Free(d->len);
    d->hash = nh;
    d->state = ns;
    d->off = no;
    d->len = nl;
    d->cap = ncap;
    return 0;
}

static void memo_free(memo_t *d) {
    PyMem_Free(d->hash);
    PyMem_Free(d->state);
    PyMem_Free(d->off);
    PyMem_Free(d->len);
    PyMem_Free(d->pool);
}

/* 1 if (key, s) was added, 0 if already there, -1 on error */
static int memo_add(memo_t *d, uint64_t h, int32_t s, const uint32_t *key, uint32_t klen) {
    if ((d->n + 1) * 2 > d->cap && memo_grow(d) < 0)
        return -1;
    h += 1;
    if (!h)
        h = 1;
    size_t m = d->cap - 1, j = mix(h ^ (uint64_t)(uint32_t)s) & m;
    while (d->hash[j]) {
        if (d->hash[j] == h && d->state[j] == s && d->len[j] == klen
                && !memcmp(d->pool + d->off[j], key, klen * sizeof(uint32_t)))
            return 0;
        j = (j + 1) & m;
    }
    if (d->pool_n + klen > d->pool_cap) {
        size_t ncap = d->pool_cap ? d->pool_cap : 4096;
        while (ncap < d->pool_n + klen)
            ncap *= 2;
        uint32_t *np = PyMem_Realloc(d->pool, ncap * sizeof(uint32_t));
        if (!np) {
            PyErr_NoMemory();
            return -1;
        }
        d->pool = np;
        d->pool_cap = ncap;
    }
    memcpy(d->pool + d->pool_n, key, klen * sizeof(uint32_t));
    d->hash[j] = h;
    d->state[j] = s;
    d->off[j] = d->pool_n;
    d->len[j] = klen;
    d->pool_n += klen;
    d->n++;
    return 1;
}

/* The depth-first pass's cache: past this many bytes it gives up. */
#define DFS_CACHE_BYTES ((size_t)256 << 20)
/* Entries of the event list looked at when judging whether a node is dead (see above). */
#define EXAMINE_MAX 256

enum { NODE_OK = 0, NODE_DEAD = 1, NODE_COMMIT = 2 };

typedef struct {
    ctx_t *c;
    prune_t *P;
    int32_t *next;
    uint64_t *lin;
    int32_t dyn[EXAMINE_MAX];   /* ops with a target not linearized, called before the read looked at */
} dfs_t;

#define LIN(D, k) (((D)->lin[(k) / 64] >> ((k) % 64)) & 1)

/* Whether a read of ``e`` can still be placed from ``s``: ``e`` extends ``s``, or some op not linearized that
 * may take effect before the read returns leaves a state ``e`` extends. 1, 0, -1 on error. */
static int can_reach(dfs_t *D, int32_t s, int32_t e, int rd, int ndyn) {
    ctx_t *c = D->c;
    prune_t *P = D->P;
    int x = extends(c, P, s, e);
    if (x)
        return x;
    for (int i = 0; i < ndyn; i++) {
        x = target_reaches(c, P, D->dyn[i], e);
        if (x)
            return x;
    }
    for (int32_t i = P->rs_off[rd]; i < P->rs_off[rd + 1]; i++) {
        int32_t k = P->rs_list[i];
        if (LIN(D, k))
            continue;
        x = target_reaches(c, P, k, e);
        if (x)
            return x;
    }
    return 0;
}

/* Judge the node (linearized set, state ``s``): NODE_COMMIT with *entry the call of a read to linearize at once,
 * NODE_DEAD, NODE_OK; -1 on error. */
static int examine(dfs_t *D, int32_t s, int32_t *entry) {
    ctx_t *c = D->c;
    int seen_ret = 0, ndyn = 0, n = 0;
    for (int32_t e = D->next[0]; e != 0 && n < EXAMINE_MAX; e = D->next[e], n++) {
        int32_t ev = c->events[e - 1];
        if (ev < 0) {
            seen_ret = 1;
            continue;
        }
        op_t *o = &c->ops[ev];
        if (o->kind == K_READ) {
            if (!seen_ret && o->a == s) {
                *entry = e;
                return NODE_COMMIT;
            }
            if (D->P->code) {
                int r = can_reach(D, s, o->a, (int)ev, ndyn);
                if (r < 0)
                    return -1;
                if (!r)
                    return NODE_DEAD;
            }
            if (seen_ret)
                break;
        } else if (D->P->target[ev] != -2) {
            D->dyn[ndyn++] = ev;
        }
    }
    return NODE_OK;
}

static int run_dfs(ctx_t *c, prune_t *P, observers_t *O, PyObject *init_state, PyObject *check, long long cap) {
    int result = R_ERROR;
    Py_ssize_t ne = c->nev, nops = c->nops;
    size_t nb = (size_t)(nops ? nops : 1);
    dfs_t D;
    memset(&D, 0, sizeof D);
    D.c = c;
    D.P = P;
    /* the events as a doubly linked list, 1..ne, 0 the head */
    int32_t *next = PyMem_Malloc((ne + 2) * sizeof(int32_t)), *prev = PyMem_Malloc((ne + 2) * sizeof(int32_t));
    int32_t *ret_of = PyMem_Malloc(nb * sizeof(int32_t));   /* op -> its return entry or -1 */
    uint64_t *zob = PyMem_Malloc(nb * sizeof(uint64_t));
    int nwords = (int)((nops + 63) / 64);
    uint64_t *lin = PyMem_Calloc(nwords ? nwords : 1, sizeof(uint64_t));
    uint32_t *key = PyMem_Malloc((ne + 4) * sizeof(uint32_t));
    struct frame { int32_t entry, state, maxe; uint8_t marked, committed; } *calls =
        PyMem_Malloc(nb * sizeof(struct frame));
    memo_t d;
    memset(&d, 0, sizeof d);
    D.next = next;
    D.lin = lin;
    if (!next || !prev || !ret_of || !zob || !lin || !key || !calls) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < nops; i++) {
        ret_of[i] = -1;
        zob[i] = mix((uint64_t)i * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL);
    }
    for (Py_ssize_t i = 0; i <= ne; i++) {
        next[i] = (int32_t)(i + 1 <= ne ? i + 1 : 0);
        prev[i] = (int32_t)(i ? i - 1 : ne);
    }
    if (ne == 0)
        next[0] = prev[0] = 0;
    Py_ssize_t remaining = 0;   /* returns not yet passed */
    for (Py_ssize_t i = 0; i < ne; i++) {
        int32_t ev = c->events[i];
        if (ev < 0) {
            ret_of[~ev] = (int32_t)(i + 1);
            remaining++;
        }
    }
    int64_t s0 = intern(c, init_state);
    if (s0 < 0)
        goto done;
    int32_t state = (int32_t)s0;
    int marked = 0;   /* the last op linearized had an unknown outcome: no overwrite may follow (see below) */
    int32_t maxe = 0; /* the last call entry linearized */
    uint64_t h = 0;
    int ncalls = 0;
    long long steps = 0, next_check = CHECK_EVERY;
    int32_t e = 0;
    int32_t lifted = 0;   /* entry of the op just linearized, still to be judged */
    int committed = 0;
    goto judge;

    while (remaining > 0) {
        if (++steps >= next_check) {
            next_check = steps + CHECK_EVERY;
            PyObject *ok = PyObject_CallNoArgs(check);
            if (!ok)
                goto done;
            Py_DECREF(ok);
            if ((cap >= 0 && steps > cap) || memo_bytes(&d) > DFS_CACHE_BYTES) {
                result = R_GAVE_UP;
                goto done;
            }
        }
        if (e == 0)
            goto backtrack;   /* only unknown-outcome calls left after here, yet returns remain */
        int32_t ev = c->events[e - 1];
        if (ev < 0)
            goto backtrack;   /* a return of an op not linearized */
        {
            /* a call: linearize the op here if legal and new */
            op_t *o = &c->ops[ev];
            int32_t r;
            if (marked && o->blind)
                r = -1;   /* the unknown-outcome op before it could be left out: that order is tried there */
            else if (o->kind == K_READ)
                r = state == o->a ? state : -1;
            else
                r = trans(c, (int)ev, state);
            if (r == -2)
                goto done;
            if (r < 0) {
                e = next[e];
                continue;
            }
            lifted = e;
            committed = 0;
            /* push the frame, lift the call and its return out of the list */
        lift:
            calls[ncalls].entry = lifted;
            calls[ncalls].state = state;
            calls[ncalls].maxe = maxe;
            calls[ncalls].marked = (uint8_t)marked;
            calls[ncalls].committed = (uint8_t)committed;
            ncalls++;
            {
                int32_t k = c->events[lifted - 1];
                state = r;
                marked = c->ops[k].info;
                if (lifted > maxe)
                    maxe = lifted;
                h ^= zob[k];
                lin[k / 64] |= (uint64_t)1 << (k % 64);
                next[prev[lifted]] = next[lifted];
                prev[next[lifted]] = prev[lifted];
                int32_t re = ret_of[k];
                if (re >= 0) {
                    next[prev[re]] = next[re];
                    prev[next[re]] = prev[re];
                    remaining--;
                }
                /* ops that return before the first entry left are all linearized: not observers any more */
                state = canon(c, O, state, next[0] ? next[0] - 1 : ne);
            }
            /* the cache key of the linearized set: the last call lifted and the calls before it not lifted (the
             * ops not linearized that were called by then: about the concurrency, whatever the history's length) */
            {
                uint32_t kl = 1;
                key[0] = (uint32_t)maxe;
                for (int32_t p = next[0]; p != 0 && p < maxe; p = next[p]) {
                    if (c->events[p - 1] >= 0)
                        key[kl++] = (uint32_t)p;
                    steps++;
                }
                int added = memo_add(&d, h, state * 2 + marked, key, kl);
                if (added < 0)
                    goto done;
                if (!added)
                    goto undo_one;   /* seen: this node leads nowhere */
            }
        judge:
            if (remaining == 0)
                break;
            {
                int32_t rentry = 0;
                int x = examine(&D, state, &rentry);
                if (x < 0)
                    goto done;
                if (x == NODE_DEAD) {
                    if (ncalls == 0) {
                        result = R_FALSE;
                        goto done;
                    }
                    goto undo_one;
                }
                if (x == NODE_COMMIT) {
                    lifted = rentry;
                    committed = 1;
                    r = state;
                    goto lift;
                }
            }
            e = next[0];
            continue;
        }
    undo_one:
        /* undo the last linearization; a committed read is never the choice to revisit, so undo past it */
        for (;;) {
            ncalls--;
            int32_t ce = calls[ncalls].entry;
            state = calls[ncalls].state;
            marked = calls[ncalls].marked;
            maxe = calls[ncalls].maxe;
            int32_t k = c->events[ce - 1];
            h ^= zob[k];
            lin[k / 64] &= ~((uint64_t)1 << (k % 64));
            int32_t re = ret_of[k];
            if (re >= 0) {
                next[prev[re]] = re;
                prev[next[re]] = re;
                remaining++;
            }
            next[prev[ce]] = ce;
            prev[next[ce]] = ce;
            if (!calls[ncalls].committed) {
                e = next[ce];
                break;
            }
            if (ncalls == 0) {
                result = R_FALSE;
                goto done;
            }
        }
        continue;
    backtrack:
        /* a return of an op not linearized: undo the last linearization and try the next op after it */
        if (ncalls == 0) {
            result = R_FALSE;
            goto done;
        }
        goto undo_one;
    }
    result = R_TRUE;
done:
    PyMem_Free(next);
    PyMem_Free(prev);
    PyMem_Free(ret_of);
    PyMem_Free(zob);
    PyMem_Free(lin);
    PyMem_Free(key);
    PyMem_Free(calls);
    memo_free(&d);
    return result;
}

static PyObject *verdict(PyObject *self, PyObject *args) {
    PyObject *history, *init, *step, *check;
    model_t m;
    int keep;
    long long max_steps, dfs_cap;
    if (!PyArg_ParseTuple(args, "OiOO(OOO)(OOOO)OiLL", &history, &m.code, &init, &step, &m.read_only,
                          &m.read_expect, &m.overwrites, &m.unknown, &m.no_expect, &m.freeze, &m.class_key,
                          &check, &keep, &max_steps, &dfs_cap))
        return NULL;
    if (m.code < M_GENERIC || m.code > M_KV) {
        PyErr_SetString(PyExc_ValueError, "unknown model code");
        return NULL;
    }
    ctx_t c;
    memset(&c, 0, sizeof c);
    c.junk = -1;
    prune_t P;
    memset(&P, 0, sizeof P);
    observers_t O;
    memset(&O, 0, sizeof O);
    int result = R_ERROR;
    c.step = step;
    c.ids = PyDict_New();
    c.states = PyList_New(0);
    c.rcap = 64;
    c.rmask = PyMem_Calloc(c.rcap, sizeof(mask_t));
    if (!c.ids || !c.states || !c.rmask) {
        PyErr_NoMemory();
        goto done;
    }
    if (tc_init(&c.tc, 256) < 0 || compile(&c, &m, history) < 0)
        goto done;
    if (prune_build(&c, &P, m.code) < 0 || observers_build(&c, &O, m.code) < 0)
        goto done;
    /* with dead states pruned and no unknown-outcome op, the depth-first pass is the better search on every
     * history tried (the breadth-first one keeps every order of appends no read has seen yet): no cap then */
    if (dfs_cap > 0 && P.code && !c.has_info)
        dfs_cap = -1;
    result = dfs_cap ? run_dfs(&c, &P, &O, init, check, dfs_cap) : R_GAVE_UP;
    /* unknown-outcome ops keep their bits to the end: with as many as the masks hold, only the depth-first pass
     * (no masks) can answer */
    if (result == R_GAVE_UP && c.has_info < MASK_BITS) {
        /* first a narrow pass (keep); a failure that dropped configurations needs the full one */
        result = run_search(&c, &P, &O, init, check, keep, c.has_info ? max_steps : -1);
        if (result == R_PRUNED)
            result = run_search(&c, &P, &O, init, check, 0, c.has_info ? max_steps : -1);
    }

done:
    for (Py_ssize_t i = 0; i < c.nops; i++) {
        Py_XDECREF(c.ops[i].f);
        Py_XDECREF(c.ops[i].inp);
        Py_XDECREF(c.ops[i].out);
    }
    prune_free(&P);
    observers_free(&O);
    PyMem_Free(c.ops);
    PyMem_Free(c.events);
    tc_free(&c.tc);
    PyMem_Free(c.rmask);
    Py_XDECREF(c.ids);
    Py_XDECREF(c.states);
    if (result == R_ERROR)
        return NULL;
    if (result == R_TRUE)
        Py_RETURN_TRUE;
    if (result == R_FALSE)
        Py_RETURN_FALSE;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"verdict", verdict, METH_VARARGS,
     "verdict(history, model_code, init, step, (read_only, read_expect, overwrites), (UNKNOWN, NO_EXPECT, "
     "freeze, class_key), check, keep, max_steps) -> True | False | None (see the module source)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lin_native",
                                    "Native core of the verdict-only linearizability search.", -1, methods};

#define INTERN(var, text)                                \
    do {                                                 \
        if (!(var = PyUnicode_InternFromString(text)))   \
            return NULL;                                 \
    } while (0)

PyMODINIT_FUNC PyInit__lin_native(void) {
    INTERN(s_invoke, "invoke");
    INTERN(s_ok, "ok");
    INTERN(s_fail, "fail");
    INTERN(s_info, "info");
    INTERN(s_read, "read");
    INTERN(s_get, "get");
    INTERN(s_write, "write");
    INTERN(s_put, "put");
    INTERN(s_cas, "cas");
    INTERN(s_append, "append");
    INTERN(s_type, "type");
    INTERN(s_process, "process");
    INTERN(s_f, "f");
    INTERN(s_value, "value");
    INTERN(s_empty, "");
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddIntConstant(m, "MASK_BITS", MASK_BITS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
