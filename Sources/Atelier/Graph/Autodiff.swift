/// Reverse-mode differentiation of a scalar loss. Only work on a path from
/// the chosen tensors to the loss is added: in a GAN's generator step the
/// discriminator passes gradients through but computes no weight gradients
/// of its own, and in its own step the generator's output is a constant.
extension Graph {
    private enum Gradient {
        /// d loss / d loss: the root of a scalar loss, or a sum of losses.
        case one
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

        var grads: [Int: Gradient] = [loss.id: .one]
        func accumulate(_ id: Int, _ g: Gradient) throws {
            guard relevant(id) else { return }
            switch (grads[id], g) {
            case (nil, _): grads[id] = g
            case (.tensor(let a)?, .tensor(let b)): grads[id] = .tensor(try apply(.add, [tensor(a), tensor(b)])[0].id)
            default: throw ShapeError("a loss used twice in one sum is not supported; add each loss once")
            }
        }

        for index in (0..<forwardCount).reversed() {
            let node = nodes[index]
            guard node.inputs.contains(where: relevant), let dy = grads[node.outputs[0]] else { continue }
            let x = node.inputs.map(tensor)
            func dyTensor() throws -> Tensor {
                guard case .tensor(let id) = dy else {
                    throw ShapeError("\(node.op) directly on a loss cannot be differentiated; the loss must be the last op")
                }
                return tensor(id)
            }
            switch node.op {
            case .loss, .lossWithGradient:
                guard case .one = dy else { throw ShapeError("a loss must be the root of the graph or part of a sum of losses") }
                try accumulate(x[0].id, .tensor(try fuseGradient(intoLossAt: index).id))
            case .add:
                try accumulate(x[0].id, dy)
                try accumulate(x[1].id, dy)
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
            case .convTranspose2d(let stride, let padding):
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
            case .sliceChannels, .activationGradient, .conv2dBackwardData, .conv2dBackwardWeights, .channelSum,
                 .batchNormBackward:
                throw ShapeError("\(node.op) is a gradient op; second derivatives are not supported")
            }
        }

        return try targets.map { t in
            guard case .tensor(let id)? = grads[t.id] else {
                let name = parameter(of: t.id)?.name ?? "\(t)"
                throw ShapeError("\(name) does not influence the loss, so it has no gradient")
            }
            return tensor(id)
        }
    }
}
