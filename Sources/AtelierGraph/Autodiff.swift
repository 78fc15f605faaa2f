import AtelierDevices
/// Reverse-mode differentiation of a scalar loss. Only work on a path from
/// the chosen tensors to the loss is added: in a GAN's generator step the
/// discriminator passes gradients through but computes no weight gradients
/// of its own, and in its own step the generator's output is a constant.
///
/// A loss may be any weighted sum of loss terms (`L_GAN + 100 * L1`, a term
/// used twice): the gradient of a scalar that is a constant multiple of the
/// root is kept as that constant, so each loss term's gradient is computed
/// with its weight folded in, in the same pass as the loss itself.
extension Graph {

    /// Appends the gradient ops and returns d loss / d t for each of `targets`.
    public func gradients(of loss: Tensor, withRespectTo targets: [Tensor]) throws -> [Tensor] {
        guard loss.shape == [] else { throw ShapeError("gradients need a scalar loss, got \(loss.shape)") }
        let forwardCount = nodes.count
        let wanted = Set(targets.map(\.id))

        // Values that depend on a target...
        var dependsOnTarget = [Bool](repeating: false, count: shapes.count)
        for id in wanted { dependsOnTarget[id] = true }
        for node in nodes[..<forwardCount] where node.inputs.contains(where: { dependsOnTarget[$0] }) {
            for o in node.outputs { dependsOnTarget[o] = true }
        }
        // ...and that the loss depends on.
        var feedsLoss = [Bool](repeating: false, count: shapes.count)
        feedsLoss[loss.id] = true
        for node in nodes[..<forwardCount].reversed() where node.outputs.contains(where: { feedsLoss[$0] }) {
            for i in node.inputs { feedsLoss[i] = true }
        }
        func relevant(_ id: Int) -> Bool { dependsOnTarget[id] && feedsLoss[id] }

        var grads: [Int: GradientValue] = [loss.id: .constant(1)]
        func accumulate(_ id: Int, _ g: GradientValue) throws {
            guard relevant(id) else { return }
            switch (grads[id], g) {
            case (nil, _): grads[id] = g
            case (.constant(let a)?, .constant(let b)): grads[id] = .constant(a + b)
            case (.tensor(let a)?, .tensor(let b)): grads[id] = .tensor(try apply(.add, [tensor(a), tensor(b)])[0].id)
            case (.constant(let c)?, .tensor(let t)), (.tensor(let t)?, .constant(let c)):
                // A scalar reached both as a term of the sum and through
                // other ops: the constant as a tensor, then the sum.
                let filled = try constantLike(tensor(t), c)
                grads[id] = .tensor(try apply(.add, [tensor(t), filled])[0].id)
            }
        }

        for index in (0..<forwardCount).reversed() {
            let node = nodes[index]
            guard node.inputs.contains(where: relevant), let dy = grads[node.outputs[0]] else { continue }
            let x = node.inputs.map(tensor)
            // The op's gradient rule (Ops/Builtin, or the op's own definition).
            let step = GradientStep(graph: self, index: index, node: node, x: x, dy: dy, relevant: relevant, accumulate: accumulate)
            try node.op.rules.gradient(node.op, step)
        }

        return try targets.map { t in
            switch grads[t.id] {
            case .tensor(let id)?: return tensor(id)
            case .constant(let c)?:
                // The target is the loss itself, or a scaled term of it.
                return try constantLike(t, c)
            case nil:
                let name = parameter(of: t.id)?.name ?? "\(t)"
                throw ShapeError("\(name) does not influence the loss, so it has no gradient")
            }
        }
    }

    /// A tensor of `like`'s shape holding `value` everywhere (the gradient
    /// of a sum, scaled: one fill on the device).
    func constantLike(_ like: Tensor, _ value: Float) throws -> Tensor {
        try self(.lossGradient(.sum, weight: value), like)
    }

    /// How a value is used, for errors: the ops that read it.
    func describeUse(of id: Int) -> String {
        let users = nodes.filter { $0.inputs.contains(id) }.map { "\($0.op)" }
        return users.isEmpty ? "nothing" : users.joined(separator: ", ")
    }
}
