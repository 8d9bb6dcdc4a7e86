/* The native core of the linearizability checker: a verdict-only just-in-time search (see checkers/_lin_fast.py).
 *
 * Private module. Contract of search(ops, events, init, step, check, keep, max_steps) -> int:
 *   1  some order of the ops that respects real time is legal for the model (found, never guessed);
 *   0  no such order exists;
 *   2  no order was found, but configurations were dropped by ``keep`` (proves nothing: run again without it);
 *  -1  gave up: more pending ops than mask bits, more than ``max_steps`` nodes, or too many states/configurations.
 * It raises whatever ``step`` or ``check`` raise (``check`` is the budget's deadline check, called every few
 * thousand steps, so a long search stops within milliseconds of the deadline).
 *
 * ``ops``: a list of tuples (kind, a, b, f, input, output, info, blind, cls), one per op kept by the wrapper (fail
 * ops and read-only unknown-outcome ops are left out there). ``kind`` says how the op moves the state:
 *   K_READ    read-only, legal exactly in state ``a`` (the model's read_expect): placed as soon as that is legal;
 *   K_SET     legal everywhere, leaves state ``a`` (a register's write);
 *   K_CAS     legal in state ``a`` only, leaves state ``b``;
 *   K_NEVER   legal nowhere;
 *   K_APPEND  ``state + a`` when the state is exactly a str, else as K_GENERIC (a kv key's append);
 *   K_GENERIC ``step(state, f, input, output)`` -> (legal, new state), called once per (op, state).
 * ``info``: the outcome is unknown: once called the op stays pending to the end and is used at most once.
 * ``blind``: the model's ``overwrites`` hint. ``cls``: for unknown-outcome ops, the class of interchangeable ones
 * (same f and input), used in invocation order only. ``events``: op number n for a call, ~n for a return, in
 * history order (unknown-outcome ops have only a call).
 *
 * The search is the one of checkers/_lin_plain.py and checkers/_lin_search.py: configurations (state, mask) where
 * the mask says which pending ops are already linearized; at a return every configuration must place the
 * returning op, possibly after other pending ops (the closure); reads are placed the moment they are legal.
 * States are Python objects interned to ints (a dict), so any hashable state works. Unknown-outcome ops: classes
 * (above), dominance (of configurations that agree on the state and the other bits, one that used a subset of the
 * unknown-outcome ops another used can do all the other can: the other is dropped), and the overwrite rule (an
 * unknown-outcome overwrite is only worth trying right before a non-overwriting op or a read: the node after it
 * is "marked" and tries only non-overwriting ops). See checkers/_lin_search.py for why each is exact.
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
    PyObject *suffix;      /* K_APPEND (borrowed from the ops list) */
    PyObject *f, *inp, *out;
    int info, blind, cls;
} op_t;

typedef struct {
    PyObject *ids;         /* state -> id */
    PyObject *states;      /* id -> state */
    mask_t *rmask;         /* id -> bits of pending reads legal exactly there */
    size_t rcap;
    PyObject *step;
    op_t *ops;
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
        PyObject *ns = PyUnicode_Concat(PyList_GET_ITEM(c->states, s), o->suffix);
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

typedef struct {
    mask_t L;
    uint32_t s;  /* | MARK for a marked node */
} node_t;

static PyObject *search(PyObject *self, PyObject *args) {
    PyObject *ops_list, *events, *init, *step, *check;
    int keep;
    long long max_steps;
    if (!PyArg_ParseTuple(args, "O!O!OOOiL", &PyList_Type, &ops_list, &PyList_Type, &events, &init, &step, &check,
                          &keep, &max_steps))
        return NULL;

    Py_ssize_t nops = PyList_GET_SIZE(ops_list), nev = PyList_GET_SIZE(events);
    int result = R_ERROR;
    ctx_t c;
    memset(&c, 0, sizeof c);
    cset_t seen, newset;
    memset(&seen, 0, sizeof seen);
    memset(&newset, 0, sizeof newset);
    cvec_t cur = {0}, nxt = {0};
    node_t *stack = NULL;
    size_t stack_cap = 0;
    int bit_op[MASK_BITS];
    mask_t prev_bit[MASK_BITS];   /* unknown-outcome op's bit -> bit of the class member called before it */
    int free_bits[MASK_BITS];
    int nfree = 0, next_bit = 0;
    int32_t *bit_of = NULL;       /* op -> its bit while pending */
    mask_t *class_last = NULL;    /* class -> bit of its last called member */
    int nclasses = 0;

    c.step = step;
    c.ids = PyDict_New();
    c.states = PyList_New(0);
    c.rcap = 64;
    c.rmask = PyMem_Calloc(c.rcap, sizeof(mask_t));
    c.ops = PyMem_Calloc(nops ? nops : 1, sizeof(op_t));
    bit_of = PyMem_Calloc(nops ? nops : 1, sizeof(int32_t));
    if (!c.ids || !c.states || !c.rmask || !c.ops || !bit_of) {
        PyErr_NoMemory();
        goto done;
    }
    if (tc_init(&c.tc, 256) < 0 || cset_init(&seen, 256) < 0 || cset_init(&newset, 256) < 0)
        goto done;

    for (Py_ssize_t i = 0; i < nops; i++) {
        PyObject *t = PyList_GET_ITEM(ops_list, i);
        op_t *o = &c.ops[i];
        PyObject *a, *b;
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 9) {
            PyErr_SetString(PyExc_TypeError, "bad op tuple");
            goto done;
        }
        o->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(t, 0));
        a = PyTuple_GET_ITEM(t, 1);
        b = PyTuple_GET_ITEM(t, 2);
        o->f = PyTuple_GET_ITEM(t, 3);
        o->inp = PyTuple_GET_ITEM(t, 4);
        o->out = PyTuple_GET_ITEM(t, 5);
        o->info = PyObject_IsTrue(PyTuple_GET_ITEM(t, 6));
        o->blind = PyObject_IsTrue(PyTuple_GET_ITEM(t, 7));
        o->cls = (int)PyLong_AsLong(PyTuple_GET_ITEM(t, 8));
        if (PyErr_Occurred())
            goto done;
        if (o->cls >= nclasses)
            nclasses = o->cls + 1;
        if (o->kind == K_READ || o->kind == K_SET || o->kind == K_CAS) {
            int64_t x = intern(&c, a);
            if (x < 0)
                goto done;
            o->a = (int32_t)x;
        }
        if (o->kind == K_CAS) {
            int64_t x = intern(&c, b);
            if (x < 0)
                goto done;
            o->b = (int32_t)x;
        }
        if (o->kind == K_APPEND)
            o->suffix = a;
        if (o->kind < K_READ || o->kind > K_GENERIC) {
            PyErr_SetString(PyExc_ValueError, "bad op kind");
            goto done;
        }
    }
    class_last = PyMem_Calloc(nclasses ? nclasses : 1, sizeof(mask_t));
    if (!class_last) {
        PyErr_NoMemory();
        goto done;
    }

    int64_t s_init = intern(&c, init);
    if (s_init < 0)
        goto done;
    if (cvec_push(&cur, (uint32_t)s_init, 0) < 0)
        goto done;

    mask_t cmask = 0;           /* pending ops that change the state and complete */
    mask_t infomask = 0;        /* called unknown-outcome ops (pending forever) */
    mask_t iclass_first = 0;    /* ... that are the first called of their class */
    mask_t blindmask = 0;       /* pending overwrites, unknown-outcome or not */
    int pruned = 0;
    long long steps = 0, total = 0;

    for (Py_ssize_t ei = 0; ei < nev; ei++) {
        long ev = PyLong_AsLong(PyList_GET_ITEM(events, ei));
        if (ev == -1 && PyErr_Occurred())
            goto done;
        if (ev >= 0) {
            /* a call: the op becomes pending and gets a bit */
            op_t *o = &c.ops[ev];
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
            if (o->kind == K_READ) {
                c.rmask[o->a] |= b;
                for (size_t i = 0; i < cur.n; i++)  /* placing it where it is legal never hurts */
                    if (cur.v[i].s == (uint32_t)o->a)
                        cur.v[i].L |= b;
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
        op_t *x = &c.ops[n];
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
                int32_t r = trans(&c, n, (int32_t)k0.s);
                if (r == -2)
                    goto done;
                if (r < 0) {
                    result = R_FALSE;
                    goto done;
                }
                mask_t L2 = k0.L | xb;
                L2 |= c.rmask[r] & ~L2;
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
                if (stack_cap == 0) {
                    stack_cap = 256;
                    stack = PyMem_Malloc(stack_cap * sizeof(node_t));
                    if (!stack) {
                        PyErr_NoMemory();
                        goto done;
                    }
                }
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
                        int32_t r = trans(&c, on, (int32_t)s);
                        if (r < 0) {
                            if (r == -2)
                                goto done;
                            continue;
                        }
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
                        mask_t add = c.rmask[r] & ~L2;
                        L2 |= add;
                        if (L2 & xb) {
                            int rc2 = cset_add(&newset, (uint32_t)r, L2 & nxb);
                            if (rc2 < 0 || (rc2 && cvec_push(&nxt, (uint32_t)r, L2 & nxb) < 0))
                                goto done;
                            continue;
                        }
                        uint32_t key = (uint32_t)r;
                        if (c.ops[on].info && !add && blindmask) {
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
        if (x->kind == K_READ)
            c.rmask[x->a] &= nxb;
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
    tc_free(&c.tc);
    PyMem_Free(c.rmask);
    PyMem_Free(c.ops);
    PyMem_Free(bit_of);
    PyMem_Free(class_last);
    Py_XDECREF(c.ids);
    Py_XDECREF(c.states);
    if (result == R_ERROR)
        return NULL;
    return PyLong_FromLong(result);
}

static PyMethodDef methods[] = {
    {"search", search, METH_VARARGS,
     "search(ops, events, init, step, check, keep, max_steps) -> 1 linearizable, 0 not, 2 not found after "
     "pruning, -1 gave up (see the module source)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lin_native",
                                    "Native core of the verdict-only linearizability search.", -1, methods};

PyMODINIT_FUNC PyInit__lin_native(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddIntConstant(m, "MASK_BITS", MASK_BITS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
