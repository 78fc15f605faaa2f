import AtelierDevices
/// The planner's fusions, run as one step with an epilogue (see Epilogue) so
/// the intermediate values are never written; the graph itself, and so
/// autodiff, keeps the separate ops.
/// - Forward: a GEMM or convolution, then the bias add and/or activation
///   that alone consume its output (consecutive nodes).
/// - Backward: a GEMM or convolution data gradient, then the gradient of
///   the activation before it, which alone consumes it (later in the
///   backward pass; its other input, the activation's output, is a forward
///   value, so it can run right after the head).
/// - Accumulation: the sum of two weight gradients (a weight used twice,
///   as D's on real and on fake images): the first GEMM or convolution
///   weight gradient writes the sum's buffer, the second adds to it
///   (GEMM beta 1); the `add` disappears.
/// - Normalisation: a BatchNorm and the activation that alone reads it
///   (the next node) run as one pass; in the backward pass the activation's
///   gradient, which only the BatchNorm's gradient reads, runs inside it
///   (at the BatchNorm gradient's place, reading the activation's output and
///   its gradient, which live until then).
struct Fusion {
    enum Kind { case forward, gradient, accumulate, normActivation, normActivationGradient }

    let kind: Kind
    /// The GEMM or convolution node.
    let head: Int
    /// The nodes it absorbs: forward, the bias add and the activation;
    /// backward, the activation gradient (as `activationNode`).
    let biasNode: Int?
    let activationNode: Int?
    /// Accumulation: the second weight gradient and the add.
    var accumulatorNode: Int? = nil
    var addNode: Int? = nil
    /// A normalisation's gradient: the forward BatchNorm node (for beta).
    var normNode: Int? = nil
    /// The value the fused step writes: the last absorbed node's output.
    let output: Int
    /// Values never materialised: they share `output`'s buffer.
    let skipped: [Int]

    /// Nodes whose own step disappears.
    var absorbed: [Int] { [biasNode, activationNode, addNode].compactMap { $0 } }
    /// The nodes from the first to the last one involved.
    var span: ClosedRange<Int> {
        let all = [head] + absorbed + [accumulatorNode].compactMap { $0 }
        return all.min()!...all.max()!
    }

    /// Finds the fusions of `graph`. Values in `pinned` (kept for reading,
    /// or bound to caller buffers) are never skipped.
    static func find(in graph: Graph, pinned: Set<Int>) -> [Fusion] {
        let nodes = graph.nodes
        var consumers = [Int](repeating: 0, count: graph.shapes.count)
        var consumer = [Int: Int]()
        for (index, node) in nodes.enumerated() {
            for i in node.inputs {
                consumers[i] += 1
                consumer[i] = index
            }
        }
        /// The node that alone reads `value`, if it is `matches` and reads it as input `slot`.
        func soleReader(of value: Int, slot: Int, _ matches: (GraphOp) -> Bool) -> Int? {
            guard consumers[value] == 1, !pinned.contains(value), let index = consumer[value],
                  matches(nodes[index].op), nodes[index].inputs.count > slot, nodes[index].inputs[slot] == value else { return nil }
            return index
        }
        var fusions: [Fusion] = []
        // Normalisations first: their activation gradients must not be
        // taken by a data gradient's fusion below.
        var taken = Set<Int>()
        for (index, node) in nodes.enumerated() {
            guard case .batchNorm(_, _, let training, .identity) = node.op,
                  let act = soleReader(of: node.outputs[0], slot: 0, { if case .activation = $0 { true } else { false } }),
                  act == index + 1 else { continue }
            fusions.append(Fusion(kind: .normActivation, head: index, biasNode: nil, activationNode: act,
                                  output: nodes[act].outputs[0], skipped: [node.outputs[0]]))
            guard training else { continue }
            let z = nodes[act].outputs[0]
            for (g, gradient) in nodes.enumerated() where g > act {
                guard case .activationGradient = gradient.op, gradient.inputs[0] == z,
                      let b = soleReader(of: gradient.outputs[0], slot: 1, { if case .batchNormBackward(.identity) = $0 { true } else { false } }),
                      nodes[b].inputs[3] == node.outputs[1] else { continue }
                var fusion = Fusion(kind: .normActivationGradient, head: b, biasNode: nil, activationNode: g,
                                    output: nodes[b].outputs[0], skipped: [gradient.outputs[0]])
                fusion.normNode = index
                fusions.append(fusion)
                taken.insert(g)
            }
        }
        var producer = [Int: Int]()
        for (index, node) in nodes.enumerated() { for o in node.outputs { producer[o] = index } }
        for (index, node) in nodes.enumerated() {
            guard case .add = node.op, node.inputs.count == 2, node.inputs[0] != node.inputs[1] else { continue }
            let weightGradient = { (value: Int) -> Int? in
                guard let p = producer[value], soleReader(of: value, slot: value == node.inputs[0] ? 0 : 1, { if case .add = $0 { true } else { false } }) == index else { return nil }
                switch nodes[p].op {
                case .conv2dBackwardWeights: return p
                case .matmul: return p
                default: return nil
                }
            }
            guard let p0 = weightGradient(node.inputs[0]), let p1 = weightGradient(node.inputs[1]), p0 != p1 else { continue }
            let (first, second) = (min(p0, p1), max(p0, p1))
            var fusion = Fusion(kind: .accumulate, head: first, biasNode: nil, activationNode: nil,
                                output: node.outputs[0], skipped: node.inputs)
            fusion.accumulatorNode = second
            fusion.addNode = index
            fusions.append(fusion)
        }
        var index = 0
        while index < nodes.count {
            defer { index += 1 }
            let head = nodes[index]
            switch head.op {
            case .matmul, .conv2d, .convTranspose2d, .conv2dBackwardData: break
            default: continue
            }
            var output = head.outputs[0]
            // Reshapes in between (a flatten's gradient) only rename the values.
            var gradientInput = output, viaReshapes: [Int] = []
            while let reshape = soleReader(of: gradientInput, slot: 0, { if case .reshape = $0 { true } else { false } }) {
                viaReshapes.append(gradientInput)
                gradientInput = nodes[reshape].outputs[0]
            }
            if let gradient = soleReader(of: gradientInput, slot: 1, { if case .activationGradient = $0 { true } else { false } }),
               gradient > index, !taken.contains(gradient) {
                fusions.append(Fusion(kind: .gradient, head: index, biasNode: nil, activationNode: gradient,
                                      output: nodes[gradient].outputs[0], skipped: viaReshapes + [gradientInput]))
                continue
            }
            if case .conv2dBackwardData = head.op { continue }
            var skipped: [Int] = []
            var biasNode: Int?, activationNode: Int?
            if let next = soleReader(of: output, slot: 0, { if case .biasAdd = $0 { true } else { false } }), next == index + 1 {
                biasNode = next
                skipped.append(output)
                output = nodes[next].outputs[0]
            }
            let after = (biasNode ?? index) + 1
            if let next = soleReader(of: output, slot: 0, { if case .activation = $0 { true } else { false } }), next == after {
                activationNode = next
                skipped.append(output)
                output = nodes[next].outputs[0]
            }
            guard !skipped.isEmpty else { continue }
            let fusion = Fusion(kind: .forward, head: index, biasNode: biasNode, activationNode: activationNode,
                                output: output, skipped: skipped)
            fusions.append(fusion)
            index = fusion.span.upperBound
        }
        return fusions
    }

    func activation(in graph: Graph) -> Activation {
        guard let activationNode else { return .identity }
        switch graph.nodes[activationNode].op {
        case .activation(let act), .activationGradient(let act): return act
        default: return .identity
        }
    }

    /// For profiles: "conv2d + bias + leaky_relu(0.2)", "matmul + relu grad",
    /// "matmul, accumulating" (the second weight gradient of a sum).
    func name(in graph: Graph) -> String {
        if kind == .accumulate, let accumulatorNode {
            return graph.nodes[accumulatorNode].op.profileName + ", accumulating"
        }
        if kind == .normActivation { return "batch_norm + \(activation(in: graph))" }
        if kind == .normActivationGradient { return "batch_norm + \(activation(in: graph)) grad" }
        var parts = [graph.nodes[head].op.profileName]
        if biasNode != nil { parts.append("bias") }
        if activationNode != nil { parts.append("\(activation(in: graph))\(kind == .gradient ? " grad" : "")") }
        return parts.joined(separator: " + ")
    }
}
