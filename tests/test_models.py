"""The models' sequential specifications, written out by hand (the search trusts them, so they get their own
tests): legality, the state that follows, purity, hashability and the by-name lookup."""

import pytest

from splitbrain.checkers.models import MODELS, UNKNOWN, get_model
from splitbrain.history.errors import BadInput


def run(model, ops, state=None):
    """Apply (f, input, output) ops in order; return the list of legal flags and the final state."""
    s = model.init() if state is None else state
    flags = []
    for f, i, o in ops:
        legal, new = model.step(s, f, i, o)
        flags.append(legal)
        if legal:
            s = new
    return flags, s


def test_register_reads_see_the_last_write_and_nil_first():
    m = get_model("register")
    assert run(m, [("read", None, None), ("write", 3, 3), ("read", None, 3), ("read", None, 4)]) == \
        ([True, True, True, False], 3)
    assert m.step(None, "cas", [None, 1], None)[0] is False  # a plain register has no cas


def test_cas_register_cas_needs_the_expected_value():
    m = get_model("cas-register")
    flags, s = run(m, [("write", 1, 1), ("cas", [2, 3], [2, 3]), ("cas", [1, 3], [1, 3]), ("read", None, 3)])
    assert flags == [True, False, True, True] and s == 3
    assert m.step(1, "cas", "garbage", None) == (False, 1)


def test_kv_per_key_get_put_append_cas_and_missing_key_reads_empty():
    m = get_model("kv").per_key
    flags, s = run(m, [("get", None, ""), ("get", None, None), ("append", "x", "x"), ("append", "y", "y"),
                       ("get", None, "xy"), ("cas", ["xy", "z"], None), ("put", "w", "w"), ("get", None, "z")])
    assert flags == [True, True, True, True, True, True, True, False] and s == "w"


def test_kv_whole_store_keeps_keys_apart():
    m = get_model("kv")
    s = m.init()
    _, s = m.step(s, "put", ("a", "1"), None)
    _, s = m.step(s, "append", ("b", "2"), None)
    assert m.step(s, "get", ("a", None), "1") == (True, s)
    assert m.step(s, "get", ("b", None), "2")[0]
    assert m.step(s, "get", ("c", None), "")[0]
    assert not m.step(s, "get", ("a", None), "2")[0]
    assert m.splittable and m.keyed and m.footprint("get", ("a", None)) == "a"


def test_counter_set_queue_mutex():
    c = get_model("counter")
    assert run(c, [("add", 2, None), ("add", -1, None), ("read", None, 1), ("read", None, 2)])[0] == \
        [True, True, True, False]
    st = get_model("set")
    assert run(st, [("add", 1, None), ("add", 2, None), ("read", None, [2, 1]), ("read", None, [1])])[0] == \
        [True, True, True, False]
    q = get_model("queue")
    assert run(q, [("enqueue", 1, None), ("enqueue", 2, None), ("dequeue", None, 2), ("dequeue", None, 1),
                   ("dequeue", None, 2), ("dequeue", None, None)])[0] == [True, True, False, True, True, True]
    mx = get_model("mutex")
    assert run(mx, [("acquire", None, None), ("acquire", None, None), ("release", None, None),
                    ("release", None, None)])[0] == [True, False, True, False]


def test_unknown_outcomes_are_accepted_where_the_op_could_take_effect():
    assert get_model("cas-register").step(1, "cas", [1, 2], UNKNOWN) == (True, 2)
    assert get_model("cas-register").step(1, "read", None, UNKNOWN) == (True, 1)
    assert get_model("queue").step((5,), "dequeue", None, UNKNOWN) == (True, ())
    assert get_model("mutex").step(True, "acquire", None, UNKNOWN)[0] is False


@pytest.mark.parametrize("name", sorted(MODELS))
def test_states_are_hashable_and_steps_never_mutate(name):
    m = MODELS[name]
    s0 = m.init()
    hash(s0)
    samples = {"register": [("write", [1, 2], None)], "cas-register": [("write", {"a": 1}, None)],
               "kv": [("put", ("k", "v"), None), ("append", ("k", "w"), None)], "counter": [("add", 3, None)],
               "set": [("add", [1], None)], "queue": [("enqueue", [1, 2], None)], "mutex": [("acquire", None, None)]}
    s = s0
    for f, i, o in samples[name]:
        before = repr(s)
        legal, new = m.step(s, f, i, o)
        assert legal
        assert repr(s) == before
        hash(new)
        s = new
    assert m.describe_state(s) and m.to_json(s) is not None


def test_unknown_model_is_bad_input_naming_the_flag():
    with pytest.raises(BadInput) as e:
        get_model("nope")
    assert e.value.location == "--model" and "unknown model" in str(e.value)
