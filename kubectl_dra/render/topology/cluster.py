"""`topology` cluster view, the data: nodes by NVLink clique, then by product (shapes: render/topology/__init__.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def cluster_topology(cluster: Cluster, compute_domains: Sequence[dict] = ()) -> dict:
    views = cluster.device_views()
    clique_of = cliques(cluster.nodes, compute_domains)
    domains: dict[str | None, dict] = {}

    def domain(clique: str | None) -> dict:
        d = domains.get(clique)
        if d is None:
            d = domains[clique] = {"clique": clique, "computeDomains": [], "nodes": [], "devices": 0, "free": 0, "products": {}}
        return d

    for name in clique_of:
        domain(clique_of[name])["nodes"].append(name)
    product_of = product_memo()
    last_node: object = _NONE
    d: dict = {}
    for view in views:
        dev = view.device
        # a device without a node of its own (allNodes, a node selector) is listed under
        # `<all nodes>` / `<node selector>`, which are not nodes: they are not counted as such
        node = dev.node_name or dev.node_label
        if node != last_node:  # views come sorted by node: one lookup per node, not per device
            if dev.node_name and node not in clique_of:
                clique_of[node] = None
                domain(None)["nodes"].append(node)
            d = domain(clique_of.get(node))
            last_node = node
        free = view.state == "free"
        d["devices"] += 1
        d["free"] += free
        key = product_of(dev)
        products = d["products"]
        prod = products.get(key)
        if prod is None:
            prod = products[key] = {
                "product": text_or_none(key[0]),
                "driver": dev.driver,
                "type": text_or_none(key[2]),
                "devices": 0,
                "free": 0,
                "overlapping": False,
                "nodes": {},
            }
        prod["devices"] += 1
        prod["free"] += free
        if dev.consumes_counters and not prod.get("overlapping"):
            prod["overlapping"] = True
        counts = prod["nodes"].get(node)
        if counts is None:
            prod["nodes"][node] = [1, int(free)]
        else:
            counts[0] += 1
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
        "devices": len(views),
        "free": sum(v.state == "free" for v in views),
        "domains": out,
        "computeDomains": list(compute_domains),
    }
