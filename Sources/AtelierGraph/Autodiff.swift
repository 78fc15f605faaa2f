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
    private enum Gradient {
        /// d root / d value is this constant (a scalar on the path from a
        /// loss term to the root through sums and constant factors).
        case constant(Float)
        case tensor(Int)
    }

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

        var grads: [Int: Gradient] = [loss.id: .constant(1)]
        func accumulate(_ id: Int, _ g: Gradient) throws {
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
            func dyTensor() throws -> Tensor {
                switch dy {
                case .tensor(let id): return tensor(id)
                case .constant(let c):
                    // A scalar op other than a sum or scaling between a loss and
                    // the root (rare): its gradient as a one-value tensor.
                    return try constantLike(tensor(node.outputs[0]), c)
                }
            }
            switch node.op {
            case .loss(let op), .lossWithGradient(let op, _):
                guard case .constant(let weight) = dy else {
                    throw ShapeError("the loss \(op) of \(x[0]) reaches the root through \(describeUse(of: node.outputs[0])); a loss may only be scaled by constants and summed")
                }
                let gradient = try lossGradient(at: index, weight: weight)
                try accumulate(x[0].id, .tensor(gradient.id))
                if op.arity == 2 && relevant(x[1].id) {
                    // The target depends on what is differentiated too (an
                    // identity or cycle term between two generated images).
                    switch op {
                    case .mse, .l1: try accumulate(x[1].id, .tensor(try self(.scale(-1), gradient).id))
                    case .bceWithLogits:
                        try accumulate(x[1].id, .tensor(try self(.scale(-op.gradientScale(count: x[0].shape.count, weight: weight)), x[0]).id))
                    default:
                        throw ShapeError("the \(op) loss of \(x[0]) has a target, \(x[1]), that depends on what is differentiated; its targets must be constants")
                    }
                }
            case .add:
                try accumulate(x[0].id, dy)
                try accumulate(x[1].id, dy)
            case .scale(let factor):
                switch dy {
                case .constant(let c): try accumulate(x[0].id, .constant(c * factor))
                case .tensor(let t): try accumulate(x[0].id, .tensor(try self(.scale(factor), tensor(t)).id))
                }
            case .matmul(let ta, let tb):
                let g = try dyTensor()
                let out = shapes[node.outputs[0]]
                let shape = GemmShape(m: out[0], n: out[1], k: ta ? x[0].shape[0] : x[0].shape[1], transposeA: ta, transposeB: tb)
                if relevant(x[0].id) {
                    let (s, dcFirst) = shape.gradientA()
                    let da = try self(.matmul(transposeA: s.transposeA, transposeB: s.transposeB), dcFirst ? g : x[1], dcFirst ? x[1] : g)
                    try accumulate(x[0].id, .tensor(da.id))
                }
                if relevant(x[1].id) {
                    let (s, dcFirst) = shape.gradientB()
                    let db = try self(.matmul(transposeA: s.transposeA, transposeB: s.transposeB), dcFirst ? g : x[0], dcFirst ? x[0] : g)
                    try accumulate(x[1].id, .tensor(db.id))
                }
            case .conv2d(let stride, let padding):
                let g = try dyTensor()
                if relevant(x[0].id) {
                    try accumulate(x[0].id, .tensor(try self(.conv2dBackwardData(stride: stride, padding: padding, inputShape: x[0].shape), g, x[1]).id))
                }
                if relevant(x[1].id) {
                    try accumulate(x[1].id, .tensor(try self(.conv2dBackwardWeights(stride: stride, padding: padding, weightShape: x[1].shape), x[0], g).id))
                }
            case .convTranspose2d(let stride, let padding, _):
                // The output padding only sizes y; the convolution of y back
                // to x's size ignores the extra rows' tail, as the forward
                // pass never wrote more than they hold.
                // y = conv2d's data gradient, so dx is a conv2d of dy and dw
                // the conv2d weight gradient with input dy and output grad x.
                let g = try dyTensor()
                if relevant(x[0].id) {
                    try accumulate(x[0].id, .tensor(try self(.conv2d(stride: stride, padding: padding), g, x[1]).id))
                }
                if relevant(x[1].id) {
                    try accumulate(x[1].id, .tensor(try self(.conv2dBackwardWeights(stride: stride, padding: padding, weightShape: x[1].shape), g, x[0]).id))
                }
            case .biasAdd:
                let g = try dyTensor()
                try accumulate(x[0].id, .tensor(g.id))
                if relevant(x[1].id) { try accumulate(x[1].id, .tensor(try self(.channelSum, g).id)) }
            case .activation(let act):
                let g = try dyTensor()
                try accumulate(x[0].id, .tensor(try self(.activationGradient(act), tensor(node.outputs[0]), g).id))
            case .batchNorm(_, _, let training, let act):
                guard training else { throw ShapeError("BatchNorm in eval mode has no gradient here; train in training mode") }
                let g = try dyTensor()
                let activated = act == .identity ? [] : [tensor(node.outputs[0]), x[2]]
                let out = try apply(.batchNormBackward(activation: act),
                                    [x[0], g, x[1], tensor(node.outputs[1]), tensor(node.outputs[2])] + activated)
                try accumulate(x[0].id, .tensor(out[0].id))
                try accumulate(x[1].id, .tensor(out[1].id))
                try accumulate(x[2].id, .tensor(out[2].id))
            case .broadcastPlanes(let h, let w):
                // Each value's gradient is the sum over its plane: the planes as
                // the channels of one sample, summed by channel.
                let g = try dyTensor()
                let (n, c) = (x[0].shape[0], x[0].shape[1])
                let sums = try self(.channelSum, try self(.reshape([1, n * c, h, w]), g))
                try accumulate(x[0].id, .tensor(try self(.reshape([n, c]), sums).id))
            case .reshape:
                let g = try dyTensor()
                try accumulate(x[0].id, .tensor(try self(.reshape(x[0].shape), g).id))
            case .concatChannels:
                let g = try dyTensor()
                var start = 0
                for input in x {
                    let c = input.shape[1]
                    if relevant(input.id) {
                        try accumulate(input.id, .tensor(try self(.sliceChannels(start: start, count: c), g).id))
                    }
                    start += c
                }
            case .custom(let op):
                let g = try dyTensor()
                let grads = try op.definition.gradients(self, inputs: x, outputs: node.outputs.map(tensor), dy: g,
                                                        wanted: x.map { relevant($0.id) })
                for (input, gradient) in zip(x, grads) {
                    if let gradient { try accumulate(input.id, .tensor(gradient.id)) }
                }
            case .sliceChannels(let start, let count):
                // The slice's gradient back in its place, zeros in the other channels.
                let g = try dyTensor()
                var pieces: [Tensor] = []
                var zeros = x[0].shape
                if start > 0 { zeros.dims[1] = start; pieces.append(constant(0, zeros)) }
                pieces.append(g)
                let rest = x[0].shape[1] - start - count
                if rest > 0 { zeros.dims[1] = rest; pieces.append(constant(0, zeros)) }
                try accumulate(x[0].id, .tensor(pieces.count == 1 ? g.id : try apply(.concatChannels, pieces)[0].id))
            case .activationGradient, .conv2dBackwardData, .conv2dBackwardWeights, .channelSum,
                 .batchNormBackward, .lossGradient:
                throw ShapeError("\(node.op) is a gradient op; second derivatives are not supported")
            }
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
    private func constantLike(_ like: Tensor, _ value: Float) throws -> Tensor {
        try self(.lossGradient(.sum, weight: value), like)
    }

    /// How a value is used, for errors: the ops that read it.
    private func describeUse(of id: Int) -> String {
        let users = nodes.filter { $0.inputs.contains(id) }.map { "\($0.op)" }
        return users.isEmpty ? "nothing" : users.joined(separator: ", ")
    }
}
