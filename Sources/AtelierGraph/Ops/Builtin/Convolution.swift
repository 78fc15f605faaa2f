import AtelierDevices

/// Convolutions and transposed convolutions, and the data and weight gradients they are made of.
/// Shape rules, gradient rules and how the planner runs them, in one place
/// (the other families are beside this file; OpRules says how they are used).
enum ConvolutionOps: OpRules {
    static func outputShapes(_ op: GraphOp, _ c: ShapeCheck) throws -> [Shape] {
        let inputs = c.inputs
        switch op {
        case .conv2d(let stride, let padding):
            try c.expectCount(2)
            guard inputs[0].rank == 4, inputs[1].rank == 4, inputs[0][1] == inputs[1][1] else {
                throw c.fail("needs x [N, C, H, W] and w [K, C, R, S] with the same C")
            }
            let g = try GraphOp.convGeometry(input: inputs[0], weight: inputs[1], stride: stride, padding: padding)
            return [[g.batch, g.outChannels, g.outHeight, g.outWidth]]
        case .convTranspose2d(let stride, let padding, let outputPadding):
            try c.expectCount(2)
            guard inputs[0].rank == 4, inputs[1].rank == 4, inputs[0][1] == inputs[1][0] else {
                throw c.fail("needs x [N, C, H, W] and w [C, K, R, S] with the same C")
            }
            guard outputPadding >= 0, outputPadding < max(stride, 1) || outputPadding == 0 else {
                throw c.fail("output padding \(outputPadding) must be smaller than the stride \(stride)")
            }
            let g = try GraphOp.transposedGeometry(input: inputs[0], weight: inputs[1], stride: stride, padding: padding,
                                                outputPadding: outputPadding)
            return [[g.batch, g.inChannels, g.height, g.width]]
        case .conv2dBackwardData(_, _, let inputShape):
            try c.expectCount(2)
            return [inputShape]
        case .conv2dBackwardWeights(_, _, let weightShape):
            try c.expectCount(2)
            return [weightShape]
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func gradient(_ op: GraphOp, _ s: GradientStep) throws {
        let (graph, node, x) = (s.graph, s.node, s.x)
        switch op {
        case .conv2d(let stride, let padding):
            let g = try s.dyTensor()
            if s.relevant(x[0].id) {
                try s.accumulate(x[0].id, .tensor(try graph(.conv2dBackwardData(stride: stride, padding: padding, inputShape: x[0].shape), g, x[1]).id))
            }
            if s.relevant(x[1].id) {
                try s.accumulate(x[1].id, .tensor(try graph(.conv2dBackwardWeights(stride: stride, padding: padding, weightShape: x[1].shape), x[0], g).id))
            }
        case .convTranspose2d(let stride, let padding, _):
            // The output padding only sizes y; the convolution of y back
            // to x's size ignores the extra rows' tail, as the forward
            // pass never wrote more than they hold.
            // y = conv2d's data gradient, so dx is a conv2d of dy and dw
            // the conv2d weight gradient with input dy and output grad x.
            let g = try s.dyTensor()
            if s.relevant(x[0].id) {
                try s.accumulate(x[0].id, .tensor(try graph(.conv2d(stride: stride, padding: padding), g, x[1]).id))
            }
            if s.relevant(x[1].id) {
                try s.accumulate(x[1].id, .tensor(try graph(.conv2dBackwardWeights(stride: stride, padding: padding, weightShape: x[1].shape), g, x[0]).id))
            }
        case .conv2dBackwardData, .conv2dBackwardWeights:
            throw ShapeError("\(node.op) is a gradient op; second derivatives are not supported")
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func compute(_ op: GraphOp, inShapes: [Shape], outShape: Shape) throws -> Plan.Compute? {
        switch op {
        case .conv2d(let stride, let padding):
            return .convolution(try GraphOp.convGeometry(input: inShapes[0], weight: inShapes[1], stride: stride, padding: padding))
        case .convTranspose2d(let stride, let padding, let outputPadding):
            return .convolutionData(try GraphOp.transposedGeometry(input: inShapes[0], weight: inShapes[1], stride: stride,
                                                                   padding: padding, outputPadding: outputPadding))
        case .conv2dBackwardData(let stride, let padding, let inputShape):
            return .convolutionData(try GraphOp.convGeometry(input: inputShape, weight: inShapes[1], stride: stride, padding: padding))
        case .conv2dBackwardWeights(let stride, let padding, let weightShape):
            return .convolutionWeights(try GraphOp.convGeometry(input: inShapes[0], weight: weightShape, stride: stride, padding: padding))
        default: return nil
        }
    }
}
