"""`topology` cluster view, the data: nodes by NVLink clique, then by product (shapes: render/topology/__init__.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from operator import attrgetter

from kubectl_dra.model.cluster import Cluster, natural_key
from kubectl_dra.model.computedomain import cliques
from kubectl_dra.model.device import Device
from kubectl_dra.render.devices import _PRODUCT_KEYS, device_type, product
from kubectl_dra.render.topology.tree import API_VERSION, TRAILING_TYPES, text_or_none


_NONE = object()

#: every attribute ``render.devices.product`` and ``device_type`` read (bare names: the driver's domain);
#: tests/test_cli_topology.py checks that they read no other
PRODUCT_ATTRIBUTES = ("tpuGen", *_PRODUCT_KEYS, "dra.net/pciDevice", "dra.net/ifName", "type", "partition", "full")


def product_memo() -> Callable[[Device], tuple[str, str, str]]:
    """A function giving a device's (product, driver, type), computed once per distinct (driver,
    values of the attributes they read): 40,000 GPUs of a few models cost a few calls.

    A device with a string ``productName``, no ``tpuGen`` and a string ``type`` (or of driver
    ``dra.net``, whose type is always ``nic``) has its answer fixed by those two values alone, so it
    is looked up by them (three attribute reads, not ten). Other devices are looked up by every
    attribute of :data:`PRODUCT_ATTRIBUTES` and each value's type: ``1`` and ``true`` (or ``0`` and
    ``false``) are equal as dict keys but are different products (and ``full: false`` makes a
    partition where ``full: 0`` does not)."""
    names_of: dict[str, tuple] = {}
    fast: dict[tuple, tuple[str, str, str]] = {}
    memo: dict[tuple, tuple[str, str, str]] = {}

    def product_key(dev: Device) -> tuple[str, str, str]:
        driver = dev.driver
        names = names_of.get(driver)
        if names is None:
            qualified = tuple(n if "/" in n else f"{driver}/{n}" for n in PRODUCT_ATTRIBUTES)
            names = names_of[driver] = (f"{driver}/productName", f"{driver}/tpuGen", f"{driver}/type", driver == "dra.net", qualified)
        attributes = dev.attributes
        name = attributes.get(names[0])
        if type(name) is str and attributes.get(names[1]) is None:
            kind = attributes.get(names[2])
            if type(kind) is str or (kind is None and names[3]):
                key = (driver, name, kind)
                got = fast.get(key)
                if got is None:
                    got = fast[key] = (product(dev), driver, device_type(dev))
                return got
        values = tuple(map(attributes.get, names[4]))
        key = (driver, values, tuple(map(type, values)))
        try:
            got = memo.get(key)
        except TypeError:  # a list value: no sharing for this device
            return (product(dev), driver, device_type(dev))
        if got is None:
            got = memo[key] = (product(dev), driver, device_type(dev))
        return got

    return product_key


_NODE_NAME = attrgetter("node_name")
_CONSUMES = attrgetter("consumes_counters")


def _listing_key(item: tuple) -> tuple:
    """Where a node (or ``<all nodes>``…) comes in the listing's order (``Cluster.device_views``:
    named nodes by name, then devices without one)."""
    where = item[0][0]
    return (False, where) if type(where) is str else where


def cluster_topology(cluster: Cluster, compute_domains: Sequence[dict] = ()) -> dict:
    """The cluster view's data: each device counted once, by its node, product and state, as
    device by device over ``Cluster.device_views`` in the listing's order (tests/test_topology_cluster.py
    holds that definition), from one count per distinct (node, product, free, shares counters)."""
    devices, not_free = cluster.devices_not_free()
    clique_of = cliques(cluster.nodes, compute_domains)
    domains: dict[str | None, dict] = {}

    def domain(clique: str | None) -> dict:
        d = domains.get(clique)
        if d is None:
            d = domains[clique] = {"clique": clique, "computeDomains": [], "nodes": [], "devices": 0, "free": 0, "products": {}}
        return d

    for name in clique_of:
        domain(clique_of[name])["nodes"].append(name)
    # a device's node, or for one without a node of its own (allNodes, a node selector) the
    # listing's key for it: it is listed under `<all nodes>` / `<node selector>`, which are not
    # nodes and are not counted as such
    nodes: list = list(map(_NODE_NAME, devices))
    if not all(nodes):
        nodes = [node or (node is None, dev.node_label) for node, dev in zip(nodes, devices)]
    taken = list(map(not_free.__contains__, map(id, devices)))
    tally = Counter(zip(nodes, map(product_memo(), devices), taken, map(bool, map(_CONSUMES, devices))))
    # counted node by node in the listing's order, as device by device in it: nodes without a clique
    # are added in that order, and each product's nodes keep it where their names sort alike
    # (gpu-01, gpu-1); the order within a node changes nothing (products sort by their key)
    last_node: object = _NONE
    d: dict = {}
    node = ""
    free_total = 0
    for (where, key, is_taken, consumes), n in sorted(tally.items(), key=_listing_key):
        if where != last_node:
            last_node = where
            if type(where) is tuple:
                node = where[1]
            else:
                node = where
                if node not in clique_of:
                    clique_of[node] = None
                    domain(None)["nodes"].append(node)
            d = domain(clique_of.get(node))
        free = 0 if is_taken else n
        free_total += free
        d["devices"] += n
        d["free"] += free
        products = d["products"]
        prod = products.get(key)
        if prod is None:
            prod = products[key] = {
                "product": text_or_none(key[0]),
                "driver": key[1],
                "type": text_or_none(key[2]),
                "devices": 0,
                "free": 0,
                "overlapping": False,
                "nodes": {},
            }
        prod["devices"] += n
        prod["free"] += free
        if consumes:
            prod["overlapping"] = True
        counts = prod["nodes"].get(node)
        if counts is None:
            prod["nodes"][node] = [n, free]
        else:
            counts[0] += n
            counts[1] += free
    for cd in compute_domains:
        ref = f"{cd['namespace']}/{cd['name']}"
        spanned = {clique_of.get(n["name"]) for n in cd["nodes"]} or {None}
        for clique in sorted(spanned, key=lambda c: (c is None, c or "")):
            domain(clique)["computeDomains"].append(ref)
    out = []
    for clique in sorted(domains, key=lambda c: (c is None, c or "")):
        d = domains[clique]
        d["nodes"] = sorted(d["nodes"], key=natural_key)
        products = sorted(
            d["products"].values(),
            key=lambda p: (p["type"] in TRAILING_TYPES, p["product"] is None, p["product"] or "", p["driver"], p["type"] or ""),
        )
        for p in products:
            p["nodes"] = [
                {"node": n, "devices": c[0], "free": c[1]} for n, c in sorted(p["nodes"].items(), key=lambda kv: natural_key(kv[0]))
            ]
        d["products"] = products
        out.append(d)
    return {
        "kind": "ClusterTopology",
        "apiVersion": API_VERSION,
        "nodes": len(clique_of),
        "devices": len(devices),
        "free": free_total,
        "domains": out,
        "computeDomains": list(compute_domains),
    }
