"""Grudge shapes as pure functions: properties over node counts 1..9 (hypothesis)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.nemesis import grudge as g

node_lists = st.integers(min_value=1, max_value=9).map(lambda n: [f"n{i}" for i in range(1, n + 1)])
seeds = st.integers(min_value=0, max_value=2**32)


def visible(grudge: g.Grudge, nodes: list[str], node: str) -> set[str]:
    """The nodes whose packets ``node`` accepts (itself included)."""
    return set(nodes) - set(grudge.get(node, []))


def components_ok(grudge, nodes, comps):
    """Each node sees exactly its own component."""
    return all(visible(grudge, nodes, n) == set(c) for c in comps for n in c)


def well_formed(grudge, nodes):
    assert grudge == g.normalize(grudge)
    for dst, srcs in grudge.items():
        assert dst in nodes and dst not in srcs and srcs and set(srcs) <= set(nodes)


@settings(max_examples=60, deadline=None)
@given(node_lists, seeds)
def test_halves_and_random_halves_cut_into_two_sides(nodes, seed):
    rng = random.Random(seed)
    for grudge in (g.halves(nodes), g.random_halves(nodes, rng)):
        well_formed(grudge, nodes)
        sides = {frozenset(visible(grudge, nodes, n)) for n in nodes}
        assert set().union(*sides) == set(nodes)
        if len(nodes) >= 2:
            assert len(sides) == 2
            small, big = sorted(sides, key=len)
            assert not small & big and len(big) - len(small) in (0, 1)
            # symmetric: nobody hears the other side
            assert all((s, d) in g.pairs(grudge) for d, s in g.pairs(grudge))
        else:
            assert grudge == {}
    assert g.halves(nodes) == g.complete_grudge(g.bisect(nodes))


@settings(max_examples=60, deadline=None)
@given(node_lists, seeds)
def test_random_halves_depends_only_on_rng(nodes, seed):
    assert g.random_halves(nodes, random.Random(seed)) == g.random_halves(nodes, random.Random(seed))


@settings(max_examples=60, deadline=None)
@given(node_lists, seeds, st.data())
def test_isolate_cuts_one_node_from_all_others(nodes, seed, data):
    target = data.draw(st.sampled_from(nodes + [None]))
    grudge = g.isolate(nodes, random.Random(seed), target)
    well_formed(grudge, nodes)
    lonely = [n for n in nodes if visible(grudge, nodes, n) == {n}]
    if len(nodes) == 1:
        assert grudge == {}
        return
    if len(nodes) == 2:  # both are alone: either could be "the" isolated one
        assert len(lonely) == 2
    else:
        assert len(lonely) == 1
    if target is not None:
        assert target in lonely
    assert components_ok(grudge, nodes, [[lonely[0]], [n for n in nodes if n != lonely[0]]])


def test_isolate_rejects_unknown_node():
    with pytest.raises(ValueError):
        g.isolate(["n1", "n2"], None, "n9")


@settings(max_examples=80, deadline=None)
@given(node_lists, seeds)
def test_majorities_ring_every_node_sees_a_distinct_majority(nodes, seed):
    grudge = g.majorities_ring(nodes, random.Random(seed))
    well_formed(grudge, nodes)
    views = {n: frozenset(visible(grudge, nodes, n)) for n in nodes}
    for n, view in views.items():
        assert n in view and len(view) == g.majority(len(nodes))
    if len(nodes) >= 3:  # with fewer nodes a majority is everyone (n=1,2): they can't differ
        assert len(set(views.values())) == len(nodes)
        assert grudge  # and someone is cut from someone
    else:
        assert grudge == {}


@settings(max_examples=60, deadline=None)
@given(node_lists, seeds)
def test_bridge_has_one_node_hearing_both_sides_which_do_not_hear_each_other(nodes, seed):
    grudge = g.bridge(nodes, random.Random(seed))
    well_formed(grudge, nodes)
    if len(nodes) < 3:
        assert grudge == {}
        return
    bridges = [n for n in nodes if n not in grudge]
    assert len(bridges) == 1
    b = bridges[0]
    sides = {frozenset(visible(grudge, nodes, n) - {b}) for n in nodes if n != b}
    assert len(sides) == 2
    left, right = sides
    assert not left & right and left | right == set(nodes) - {b}
    assert all(b not in srcs for srcs in grudge.values())


@settings(max_examples=60, deadline=None)
@given(node_lists, seeds)
def test_one_way_blocks_exactly_one_direction(nodes, seed):
    grudge = g.one_way(nodes, random.Random(seed))
    well_formed(grudge, nodes)
    blocked = g.pairs(grudge)
    for dst, src in blocked:
        assert (src, dst) not in blocked  # src still hears dst
    if len(nodes) >= 2:
        assert blocked


def test_one_way_explicit_groups():
    assert g.one_way(["n1", "n2", "n3"], hearing=["n1"], deaf=["n2", "n3"]) == {"n2": ["n1"], "n3": ["n1"]}
    with pytest.raises(ValueError):
        g.one_way(["n1", "n2"], hearing=["n1"], deaf=["n1"])


def test_validate_names_the_problem():
    assert g.validate({"n2": ["n1", "n1"], "n1": []}, ["n1", "n2"]) == {"n2": ["n1"]}
    with pytest.raises(ValueError, match="unknown node"):
        g.validate({"n7": ["n1"]}, ["n1", "n2"])
    with pytest.raises(ValueError, match="known nodes"):
        g.validate({"n1": ["n7"]}, ["n1", "n2"])
    with pytest.raises(ValueError):
        g.validate(["n1"], ["n1"])


@settings(max_examples=40, deadline=None)
@given(node_lists, seeds)
def test_every_shape_is_pure_and_json_data(nodes, seed):
    import json
    for name, shape in g.SHAPES.items():
        before = list(nodes)
        a = shape(nodes, random.Random(seed), None)
        b = shape(nodes, random.Random(seed), None)
        assert a == b and nodes == before, name
        assert json.loads(json.dumps(a)) == a
