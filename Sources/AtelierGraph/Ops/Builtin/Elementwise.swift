import AtelierDevices

/// Bias add and its gradient (channel sums), activations and their gradients, add, scale.
/// Shape rules, gradient rules and how the planner runs them, in one place
/// (the other families are beside this file; OpRules says how they are used).
enum ElementwiseOps: OpRules {
    static func outputShapes(_ op: GraphOp, _ c: ShapeCheck) throws -> [Shape] {
        let inputs = c.inputs
        switch op {
        case .biasAdd:
            try c.expectCount(2)
            guard let layout = inputs[0].channelLayout, inputs[1] == [layout.channels] else {
                throw c.fail("needs x [N, C, ...] and b [C]")
            }
            return [inputs[0]]
        case .activation:
            try c.expectCount(1)
            return [inputs[0]]
        case .add:
            try c.expectCount(2)
            guard inputs[0] == inputs[1] else { throw c.fail("shapes differ") }
            return [inputs[0]]
        case .scale(let factor):
            try c.expectCount(1)
            guard factor.isFinite else { throw c.fail("the factor must be finite") }
            return [inputs[0]]
        case .activationGradient:
            try c.expectCount(2)
            return [inputs[0]]
        case .channelSum:
            try c.expectCount(1)
            guard let layout = inputs[0].channelLayout else { throw c.fail("needs [N, C, ...]") }
            return [[layout.channels]]
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func gradient(_ op: GraphOp, _ s: GradientStep) throws {
        let (graph, node, x, dy) = (s.graph, s.node, s.x, s.dy)
        switch op {
        case .add:
            try s.accumulate(x[0].id, dy)
            try s.accumulate(x[1].id, dy)
        case .scale(let factor):
            switch dy {
            case .constant(let c): try s.accumulate(x[0].id, .constant(c * factor))
            case .tensor(let t): try s.accumulate(x[0].id, .tensor(try graph(.scale(factor), graph.tensor(t)).id))
            }
        case .biasAdd:
            let g = try s.dyTensor()
            try s.accumulate(x[0].id, .tensor(g.id))
            if s.relevant(x[1].id) { try s.accumulate(x[1].id, .tensor(try graph(.channelSum, g).id)) }
        case .activation(let act):
            let g = try s.dyTensor()
            try s.accumulate(x[0].id, .tensor(try graph(.activationGradient(act), graph.tensor(node.outputs[0]), g).id))
        case .activationGradient, .channelSum:
            throw ShapeError("\(node.op) is a gradient op; second derivatives are not supported")
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func launches(_ op: GraphOp, _ s: LaunchStep) throws -> () throws -> Void {
        let (b, x, y, inShapes, outShape) = (s.backend, s.x, s.y, s.inShapes, s.outShape)
        switch op {
        case .biasAdd:
            let layout = inShapes[0].channelLayout!
            return { try b.biasAdd(layout: layout, input: x[0], bias: x[1], output: y[0]) }
        case .channelSum:
            let layout = inShapes[0].channelLayout!
            return { try b.biasGradient(layout: layout, outputGradient: x[0], biasGradient: y[0]) }
        case .activation(let act):
            return { try b.pointwise(.activation(act), count: outShape.count, operands: [x[0], y[0]]) }
        case .activationGradient(let act):
            return { try b.pointwise(.activationGradient(act), count: outShape.count, operands: [x[0], x[1], y[0]]) }
        case .add:
            return { try b.pointwise(.add, count: outShape.count, operands: [x[0], x[1], y[0]]) }
        case .scale(let factor):
            return { try b.pointwise(.scale(factor), count: outShape.count, operands: [x[0], y[0]]) }
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }
}
