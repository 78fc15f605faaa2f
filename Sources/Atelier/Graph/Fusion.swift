/// The planner's fusions: a GEMM or convolution followed by the bias add
/// and/or the activation that alone consume its output runs as one step
/// with an epilogue (see Epilogue), so the intermediate values are never
/// written. The graph itself, and so autodiff, keeps the separate ops.
struct Fusion {
    /// The GEMM or convolution node.
    let head: Int
    /// The bias add and activation nodes it absorbs (consecutive after it).
    let biasNode: Int?
    let activationNode: Int?
    /// The value the fused step writes: the last absorbed node's output.
    let output: Int
    /// Values never materialised: they share `output`'s buffer.
    let skipped: [Int]

    var absorbed: [Int] { [biasNode, activationNode].compactMap { $0 } }
    var last: Int { activationNode ?? biasNode ?? head }

    /// Finds the fusions of `graph`. Values in `pinned` (kept for reading,
    /// or bound to caller buffers) are never skipped.
    static func find(in graph: Graph, pinned: Set<Int>) -> [Fusion] {
        let nodes = graph.nodes
        var consumers = [Int](repeating: 0, count: graph.shapes.count)
        for node in nodes { for i in node.inputs { consumers[i] += 1 } }
        /// Node `index` if it exists, is `matches`, and is the only reader of `value`.
        func sole(_ index: Int, reads value: Int, _ matches: (GraphOp) -> Bool) -> Bool {
            index < nodes.count && matches(nodes[index].op) && nodes[index].inputs.first == value
                && consumers[value] == 1 && !pinned.contains(value)
        }
        var fusions: [Fusion] = []
        var index = 0
        while index < nodes.count {
            defer { index += 1 }
            switch nodes[index].op {
            case .matmul, .conv2d, .convTranspose2d: break
            default: continue
            }
            var output = nodes[index].outputs[0]
            var skipped: [Int] = []
            var next = index + 1
            var biasNode: Int?, activationNode: Int?
            if sole(next, reads: output, { if case .biasAdd = $0 { true } else { false } }) {
                biasNode = next
                skipped.append(output)
                output = nodes[next].outputs[0]
                next += 1
            }
            if sole(next, reads: output, { if case .activation = $0 { true } else { false } }) {
                activationNode = next
                skipped.append(output)
                output = nodes[next].outputs[0]
            }
            guard !skipped.isEmpty else { continue }
            let fusion = Fusion(head: index, biasNode: biasNode, activationNode: activationNode, output: output, skipped: skipped)
            fusions.append(fusion)
            index = fusion.last
        }
        return fusions
    }

    func activation(in graph: Graph) -> Activation {
        guard let activationNode, case .activation(let act) = graph.nodes[activationNode].op else { return .identity }
        return act
    }

    /// For profiles: "conv2d + bias + leaky_relu(0.2)".
    func name(in graph: Graph) -> String {
        var parts = [graph.nodes[head].op.profileName]
        if biasNode != nil { parts.append("bias") }
        if activationNode != nil { parts.append("\(activation(in: graph))") }
        return parts.joined(separator: " + ")
    }
}
