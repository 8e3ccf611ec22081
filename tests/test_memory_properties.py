"""Property tests: FlatView rendering over random MemoryRegion trees.

The reference is an independent, brute-force resolver written here from
QEMU's rules (QEMU 7.2 softmmu/memory.c ``render_memory_region``,
``memory_region_update_container_subregions``, ``flatview_simplify``): for
ONE address it walks the tree -- a disabled region owns nothing; an address
outside a region's extent is not its; an alias passes the address on to its
target shifted by ``alias_offset`` (and by the target's own ``addr``, which
QEMU subtracts first); children are tried highest priority first and, among
equal priorities, most recently added first; a terminating region (RAM, I/O)
owns whatever its children left; a plain container owns nothing.  readonly
is ORed down the walk.  The view must then be exactly the maximal runs of
addresses with the same region, contiguous offsets and the same readonly
(``can_merge``).

Trees live in a 256-byte address space so that shrinking is fast.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vfiolab.model.memory import FlatView, MemoryRegion

SPACE = 256
MAX_DEPTH = 3


@dataclass(eq=False)
class Node:
    """A region spec, independent of the model's classes."""

    id: int
    kind: str                         # "ram", "io", "container", "alias"
    size: int
    enabled: bool = True
    readonly: bool = False
    target: "Node | None" = None
    alias_offset: int = 0
    #: (offset, priority, child) in the order they were drawn
    children: list = field(default_factory=list)
    #: where this node sits in its container (QEMU mr->addr), 0 if unplaced
    addr: int = 0


@dataclass
class Tree:
    root: Node
    nodes: list                       # every node in completion order (alias targets come first)


@st.composite
def trees(draw, distinct_priorities: bool = False):
    counter = [0]
    done: list[Node] = []

    def gen(depth: int) -> Node:
        kinds = ["ram", "io", "alias", "container"] if depth < MAX_DEPTH else ["ram", "io", "alias"]
        kind = draw(st.sampled_from(kinds))
        if kind == "alias" and not done:
            kind = "ram"
        counter[0] += 1
        node = Node(id=counter[0], kind=kind, size=draw(st.integers(1, 128)),
                    enabled=draw(st.sampled_from([True, True, True, False])))
        if kind in ("ram", "alias"):
            node.readonly = draw(st.sampled_from([False, False, True]))
        if kind == "alias":
            # any region already complete: its subtree cannot contain this alias
            node.target = draw(st.sampled_from(done))
            node.alias_offset = draw(st.integers(0, 64))
        max_children = {"container": 4, "ram": 2, "io": 2, "alias": 0}[kind]
        if depth < MAX_DEPTH and max_children:
            n = draw(st.integers(0, max_children))
            prios = (draw(st.permutations(range(-2, 3)))[:n] if distinct_priorities
                     else [draw(st.integers(-2, 2)) for _ in range(n)])
            for prio in prios:
                child = gen(depth + 1)
                off = draw(st.integers(0, SPACE - 1))
                child.addr = off
                node.children.append((off, prio, child))
        done.append(node)
        return node

    # a few regions outside the tree, only reachable through aliases (like pc.ram)
    for _ in range(draw(st.integers(0, 2))):
        gen(MAX_DEPTH)
    counter[0] += 1
    root = Node(id=counter[0], kind="container", size=SPACE)
    n = draw(st.integers(1, 5))
    prios = (draw(st.permutations(range(-2, 3)))[:n] if distinct_priorities
             else [draw(st.integers(-2, 2)) for _ in range(n)])
    for prio in prios:
        child = gen(1)
        child.addr = draw(st.integers(0, SPACE - 1))
        root.children.append((child.addr, prio, child))
    done.append(root)
    return Tree(root=root, nodes=done)


def build(tree: Tree, orders: dict | None = None) -> tuple[MemoryRegion, dict]:
    """Model regions for the spec.  ``orders`` maps a node id to the order in
    which its children are added (indices into ``children``).  Returns the
    root and, per node id, the insertion rank of each child (for the resolver)."""
    mrs: dict[int, MemoryRegion] = {}
    for node in tree.nodes:                       # completion order: targets first
        name = f"n{node.id}"
        if node.kind == "ram":
            mr = MemoryRegion.init_ram(name, node.size)
        elif node.kind == "io":
            mr = MemoryRegion.init_io(name, node.size)
        elif node.kind == "container":
            mr = MemoryRegion.init_container(name, node.size)
        else:
            mr = MemoryRegion.init_alias(name, mrs[node.target.id], node.alias_offset, node.size)
        if node.readonly:
            mr.set_readonly(True)
        if not node.enabled:
            mr.set_enabled(False)
        mrs[node.id] = mr
    ranks: dict[int, list[int]] = {}
    for node in tree.nodes:
        order = (orders or {}).get(node.id, list(range(len(node.children))))
        ranks[node.id] = [0] * len(node.children)
        for rank, i in enumerate(order):
            off, prio, child = node.children[i]
            mrs[node.id].add_subregion_overlap(off, mrs[child.id], prio)
            ranks[node.id][i] = rank
    return mrs[tree.root.id], ranks


def resolve(node: Node, base: int, a: int, readonly: bool, ranks: dict):
    """Who owns address ``a`` below ``node`` (placed at container base
    ``base``): (node id, offset in that region, readonly) or None."""
    if not node.enabled:
        return None
    base += node.addr
    readonly = readonly or node.readonly
    if not base <= a < base + node.size:
        return None
    if node.kind == "alias":
        t = node.target
        return resolve(t, base - t.addr - node.alias_offset, a, readonly, ranks)
    # highest priority first; among equals the last added first
    order = sorted(range(len(node.children)),
                   key=lambda i: (-node.children[i][1], -ranks[node.id][i]))
    for i in order:
        hit = resolve(node.children[i][2], base, a, readonly, ranks)
        if hit is not None:
            return hit
    if node.kind in ("ram", "io"):
        return (node.id, a - base, readonly)
    return None


def expected_view(tree: Tree, ranks: dict) -> list[tuple]:
    """Maximal runs of the per-address owners: (start, size, id, offset, readonly)."""
    runs: list[list] = []
    for a in range(SPACE):
        hit = resolve(tree.root, 0, a, False, ranks)
        if hit is None:
            continue
        nid, off, ro = hit
        if runs:
            s, size, pid, poff, pro = runs[-1]
            if s + size == a and pid == nid and poff + size == off and pro == ro:
                runs[-1][1] += 1
                continue
        runs.append([a, 1, nid, off, ro])
    return [tuple(r) for r in runs]


def as_tuples(fv: FlatView) -> list[tuple]:
    return [(fr.start, fr.size, int(fr.mr.name[1:]), fr.offset_in_region, fr.readonly)
            for fr in fv]


def mergeable(a, b) -> bool:
    """QEMU can_merge, restated from the rule (not the model's helper)."""
    return (a.start + a.size == b.start and a.mr is b.mr
            and a.offset_in_region + a.size == b.offset_in_region
            and a.dirty_log_mask == b.dirty_log_mask and a.romd_mode == b.romd_mode
            and a.readonly == b.readonly and a.nonvolatile == b.nonvolatile)


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(trees())
def test_view_matches_brute_force(tree):
    """QEMU render_memory_region + flatview_simplify: sorted, disjoint,
    non-empty sections; every address owned by exactly what the per-address
    walk says (highest priority wins, nothing lost or invented); no two
    neighbours that can_merge would join."""
    root, ranks = build(tree)
    fv = FlatView.render(root)
    ranges = fv.ranges
    for fr in ranges:
        assert fr.size > 0
    for a, b in zip(ranges, ranges[1:]):
        assert a.start + a.size <= b.start, "sections overlap or are unsorted"
        assert not mergeable(a, b), "neighbours left unmerged"
    assert all(fr.start + fr.size <= SPACE for fr in ranges)
    assert as_tuples(fv) == expected_view(tree, ranks)
    # the view's lookup agrees with the walk address by address
    for a in range(0, SPACE, 7):
        fr = fv.lookup(a)
        hit = resolve(tree.root, 0, a, False, ranks)
        if hit is None:
            assert fr is None
        else:
            assert (int(fr.mr.name[1:]), fr.offset_in_region + a - fr.start, fr.readonly) == hit


@SETTINGS
@given(trees(distinct_priorities=True), st.randoms(use_true_random=False))
def test_insertion_order_irrelevant_for_distinct_priorities(tree, rnd: random.Random):
    """QEMU memory_region_update_container_subregions keeps siblings sorted by
    priority, so when no two siblings share a priority any insertion order
    gives the same list, hence the same view."""
    root1, _ = build(tree)
    orders = {}
    for node in tree.nodes:
        order = list(range(len(node.children)))
        rnd.shuffle(order)
        orders[node.id] = order
    root2, _ = build(tree, orders)
    assert as_tuples(FlatView.render(root1)) == as_tuples(FlatView.render(root2))


@SETTINGS
@given(trees(), st.randoms(use_true_random=False))
def test_insertion_order_only_matters_among_equal_priorities(tree, rnd: random.Random):
    """QEMU memory_region_update_container_subregions: a permutation of the
    insertion order that keeps the relative order of each group of
    equal-priority siblings leaves the view unchanged (only which of two
    equal-priority overlapping siblings came last can matter)."""
    root1, _ = build(tree)
    orders = {}
    for node in tree.nodes:
        n = len(node.children)
        slots = list(range(n))
        rnd.shuffle(slots)                       # which priority class goes where
        by_prio: dict[int, list[int]] = {}
        for i in range(n):
            by_prio.setdefault(node.children[i][1], []).append(i)
        order = [by_prio[node.children[s][1]].pop(0) for s in slots]
        assert sorted(order) == list(range(n))
        orders[node.id] = order
    root2, ranks2 = build(tree, orders)
    assert as_tuples(FlatView.render(root1)) == as_tuples(FlatView.render(root2))
    assert as_tuples(FlatView.render(root2)) == expected_view(tree, ranks2)
