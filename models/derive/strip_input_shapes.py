#!/usr/bin/env python3
"""Remove grappler's `_input_shapes` attribute from every node of a TF frozen graph.

Usage: strip_input_shapes.py GRAPH.pb  (rewritten in place)

tfjs_graph_converter leaves `_input_shapes` on the nodes it optimised; tf2onnx 1.17 then
fails with "ValueError: Could not infer the attribute type". The attribute is only a
shape hint, so removing it does not change the graph's maths.
"""
import sys

from tensorflow.core.framework import graph_pb2


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    path = sys.argv[1]
    graph = graph_pb2.GraphDef()
    with open(path, "rb") as f:
        graph.ParseFromString(f.read())
    for node in graph.node:
        if "_input_shapes" in node.attr:
            del node.attr["_input_shapes"]
    with open(path, "wb") as f:
        f.write(graph.SerializeToString(deterministic=True))


if __name__ == "__main__":
    main()
