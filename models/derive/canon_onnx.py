#!/usr/bin/env python3
"""Rewrite an ONNX model into a canonical, reproducible form.

Usage: canon_onnx.py IN.onnx OUT.onnx

tf2onnx 1.17 writes different bytes on every run for the same TF graph: generated names
(`const_fold_opt__48`) are numbered in set-iteration order, commutative inputs are wired
either way round, duplicate nodes are kept under either name and the graphdef path is put
into doc_string. This pass removes all of that while keeping the maths:
  * every node gets a structural hash (op type, domain, attributes, hashes of its inputs;
    initializers hashed by dtype, shape and bytes; names ignored), with the inputs of
    commutative ops sorted by hash;
  * nodes with identical hashes are merged (their outputs are identical);
  * nodes are ordered topologically, ties broken by the smallest hash (Kahn's algorithm);
  * names become positional: node i is `<OpType>_<i>` with outputs `<node>:<k>`,
    initializers `w<j>` in order of first use; graph input and output names are kept;
  * initializers no node uses and all doc strings are dropped.
"""
import hashlib
import heapq
import sys

import onnx

COMMUTATIVE = {"Add", "Mul", "Max", "Min", "Sum", "Mean", "And", "Or", "Xor", "Equal"}


def sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        b = p if isinstance(p, bytes) else str(p).encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def tensor_hash(t):
    arr = onnx.numpy_helper.to_array(t)
    return sha("tensor", t.data_type, list(t.dims), arr.tobytes())


def attr_bytes(a):
    a = onnx.AttributeProto.FromString(a.SerializeToString())
    a.ClearField("doc_string")
    if a.HasField("t"):
        a.t.name = ""
    return a.SerializeToString(deterministic=True)


def canonicalize(model):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    graph_inputs = [i.name for i in g.input if i.name not in inits]
    value_hash = {name: sha("input", name) for name in graph_inputs}
    for name, t in inits.items():
        value_hash[name] = tensor_hash(t)
    value_hash[""] = sha("none")

    producer = {}
    for idx, n in enumerate(g.node):
        for o in n.output:
            producer[o] = idx

    # hash nodes in dependency order
    node_hash = [None] * len(g.node)
    sorted_inputs = [None] * len(g.node)
    pending = list(range(len(g.node)))
    while pending:
        rest = []
        for idx in pending:
            n = g.node[idx]
            if any(x not in value_hash for x in n.input):
                rest.append(idx)
                continue
            ins = list(n.input)
            if n.op_type in COMMUTATIVE and n.domain in ("", "ai.onnx"):
                ins.sort(key=lambda x: value_hash[x])
            sorted_inputs[idx] = ins
            attrs = sorted((a.name, attr_bytes(a)) for a in n.attribute)
            h = sha("node", n.op_type, n.domain, *[p for kv in attrs for p in kv],
                    *[value_hash[x] for x in ins])
            node_hash[idx] = h
            for k, o in enumerate(n.output):
                if o:
                    value_hash[o] = sha("out", h, k)
        if len(rest) == len(pending):
            raise SystemExit("graph has a cycle or an undefined input")
        pending = rest

    # merge identical nodes: keep one representative per hash
    rep = {}
    alias = {}
    for idx in range(len(g.node)):
        h = node_hash[idx]
        if h in rep:
            keep = g.node[rep[h]]
            for o_dup, o_keep in zip(g.node[idx].output, keep.output):
                alias[o_dup] = o_keep
        else:
            rep[h] = idx
    kept = sorted(rep.values())

    def resolve(name):
        while name in alias:
            name = alias[name]
        return name

    out_names = [o.name for o in g.output]
    # a merged-away node might have produced a graph output: it must survive under that name
    for o in out_names:
        r = resolve(o)
        if r != o:
            raise SystemExit(f"graph output {o} duplicates {r}; not supported")

    # Kahn's algorithm with the node hash as tie-break
    deps = {}
    users = {idx: [] for idx in kept}
    for idx in kept:
        d = set()
        for x in sorted_inputs[idx]:
            x = resolve(x)
            if x in producer:
                d.add(producer[x])
        deps[idx] = d
        for p in d:
            users[p].append(idx)
    indeg = {idx: len(deps[idx]) for idx in kept}
    heap = [(node_hash[idx], idx) for idx in kept if indeg[idx] == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        _, idx = heapq.heappop(heap)
        order.append(idx)
        for u in users[idx]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (node_hash[u], u))

    # positional renaming
    keep_names = set(graph_inputs) | set(out_names)
    rename = {}
    init_order = []
    new_nodes = []
    for pos, idx in enumerate(order):
        n = g.node[idx]
        name = f"{n.op_type}_{pos}"
        new_inputs = []
        for x in sorted_inputs[idx]:
            x = resolve(x)
            if x in inits:
                if x not in rename:
                    rename[x] = f"w{len(init_order)}"
                    init_order.append(x)
                new_inputs.append(rename[x])
            else:
                new_inputs.append(rename.get(x, x))
        new_outputs = []
        for k, o in enumerate(n.output):
            if not o:
                new_outputs.append("")
            elif o in keep_names:
                new_outputs.append(o)
            else:
                rename[o] = f"{name}:{k}"
                new_outputs.append(rename[o])
        node = onnx.NodeProto()
        node.CopyFrom(n)
        node.ClearField("input")
        node.ClearField("output")
        node.input.extend(new_inputs)
        node.output.extend(new_outputs)
        node.name = name
        node.doc_string = ""
        if not node.domain:
            node.ClearField("domain")
        new_nodes.append(node)

    new_inits = []
    for old in init_order:
        t = onnx.TensorProto()
        t.CopyFrom(inits[old])
        t.name = rename[old]
        t.doc_string = ""
        new_inits.append(t)

    g.ClearField("node")
    g.node.extend(new_nodes)
    g.ClearField("initializer")
    g.initializer.extend(new_inits)
    # IR < 4 style: initializers listed as graph inputs -> keep only real inputs
    real_inputs = [i for i in g.input if i.name not in inits]
    g.ClearField("input")
    g.input.extend(real_inputs)
    g.ClearField("value_info")
    g.doc_string = ""
    model.doc_string = ""
    for i in list(g.input) + list(g.output):
        i.doc_string = ""
    return model


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    model = onnx.load(sys.argv[1])
    model = canonicalize(model)
    onnx.checker.check_model(model)
    with open(sys.argv[2], "wb") as f:
        f.write(model.SerializeToString())


if __name__ == "__main__":
    main()
