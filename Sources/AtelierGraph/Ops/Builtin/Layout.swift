import AtelierDevices

/// Reshape, channel concatenation and slicing, class planes.
/// Shape rules, gradient rules and how the planner runs them, in one place
/// (the other families are beside this file; OpRules says how they are used).
enum LayoutOps: OpRules {
    static func outputShapes(_ op: GraphOp, _ c: ShapeCheck) throws -> [Shape] {
        let inputs = c.inputs
        switch op {
        case .reshape(let shape):
            try c.expectCount(1)
            guard shape.count == inputs[0].count else { throw c.fail("\(inputs[0].count) elements cannot become \(shape)") }
            return [shape]
        case .concatChannels:
            guard let first = inputs.first, first.rank >= 2,
                  inputs.allSatisfy({ $0.rank == first.rank && $0[0] == first[0] && $0.dims.dropFirst(2) == first.dims.dropFirst(2) })
            else { throw c.fail("inputs must agree on every axis but 1") }
            var out = first
            out.dims[1] = inputs.reduce(0) { $0 + $1[1] }
            return [out]
        case .sliceChannels(let start, let count):
            try c.expectCount(1)
            guard inputs[0].rank >= 2, start >= 0, count > 0, start + count <= inputs[0][1] else { throw c.fail("channels out of range") }
            var out = inputs[0]
            out.dims[1] = count
            return [out]
        case .broadcastPlanes(let h, let w):
            try c.expectCount(1)
            guard inputs[0].rank == 2, h > 0, w > 0 else { throw c.fail("needs x [N, C] and a positive plane size") }
            return [[inputs[0][0], inputs[0][1], h, w]]
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func gradient(_ op: GraphOp, _ s: GradientStep) throws {
        let (graph, x) = (s.graph, s.x)
        switch op {
        case .broadcastPlanes(let h, let w):
            // Each value's gradient is the sum over its plane: the planes as
            // the channels of one sample, summed by channel.
            let g = try s.dyTensor()
            let (n, c) = (x[0].shape[0], x[0].shape[1])
            let sums = try graph(.channelSum, try graph(.reshape([1, n * c, h, w]), g))
            try s.accumulate(x[0].id, .tensor(try graph(.reshape([n, c]), sums).id))
        case .reshape:
            let g = try s.dyTensor()
            try s.accumulate(x[0].id, .tensor(try graph(.reshape(x[0].shape), g).id))
        case .concatChannels:
            let g = try s.dyTensor()
            var start = 0
            for input in x {
                let c = input.shape[1]
                if s.relevant(input.id) {
                    try s.accumulate(input.id, .tensor(try graph(.sliceChannels(start: start, count: c), g).id))
                }
                start += c
            }
        case .sliceChannels(let start, let count):
            // The slice's gradient back in its place, zeros in the other channels.
            let g = try s.dyTensor()
            var pieces: [Tensor] = []
            var zeros = x[0].shape
            if start > 0 { zeros.dims[1] = start; pieces.append(graph.constant(0, zeros)) }
            pieces.append(g)
            let rest = x[0].shape[1] - start - count
            if rest > 0 { zeros.dims[1] = rest; pieces.append(graph.constant(0, zeros)) }
            try s.accumulate(x[0].id, .tensor(pieces.count == 1 ? g.id : try graph.apply(.concatChannels, pieces)[0].id))
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func launches(_ op: GraphOp, _ s: LaunchStep) throws -> () throws -> Void {
        let (b, x, y, inShapes, outShape) = (s.backend, s.x, s.y, s.inShapes, s.outShape)
        switch op {
        case .reshape:
            return {}  // the output shares the input's buffer
        case .concatChannels:
            let outer = outShape[0], inner = outShape.dims.dropFirst(2).reduce(1, *), total = outShape[1]
            var offset = 0
            let pieces = inShapes.map { s -> (Int, Int) in defer { offset += s[1] }; return (offset, s[1]) }
            return {
                for (input, (start, channels)) in zip(x, pieces) {
                    try b.copyBlocks(BlockCopy(blocks: outer, length: channels * inner, sourceStride: channels * inner,
                                               sourceOffset: 0, destinationStride: total * inner, destinationOffset: start * inner),
                                     from: input, to: y[0])
                }
            }
        case .sliceChannels(let start, let count):
            let s = inShapes[0]
            let outer = s[0], inner = s.dims.dropFirst(2).reduce(1, *)
            let copy = BlockCopy(blocks: outer, length: count * inner, sourceStride: s[1] * inner,
                                 sourceOffset: start * inner, destinationStride: count * inner, destinationOffset: 0)
            return { try b.copyBlocks(copy, from: x[0], to: y[0]) }
        case .broadcastPlanes:
            let layout = ChannelLayout(outer: 1, channels: outShape[0] * outShape[1], inner: outShape[2] * outShape[3])
            return { try b.pointwise(.broadcastChannels, layout: layout, operands: [x[0], y[0]]) }
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }
}
