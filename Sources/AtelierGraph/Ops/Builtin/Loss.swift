import AtelierDevices

/// Losses (BCE with logits, MSE, L1, hinge, sums and means), with their gradients fused in or alone.
/// Shape rules, gradient rules and how the planner runs them, in one place
/// (the other families are beside this file; OpRules says how they are used).
enum LossOps: OpRules {
    static func outputShapes(_ op: GraphOp, _ c: ShapeCheck) throws -> [Shape] {
        let inputs = c.inputs
        switch op {
        case .loss(let op):
            try c.expectCount(op.arity)
            guard inputs.allSatisfy({ $0 == inputs[0] }) else { throw c.fail("prediction and target shapes differ") }
            return [[]]
        case .lossWithGradient(let op, _):
            try c.expectCount(op.arity)
            guard inputs.allSatisfy({ $0 == inputs[0] }) else { throw c.fail("prediction and target shapes differ") }
            return [[], inputs[0]]
        case .lossGradient(let op, _):
            try c.expectCount(op.arity)
            guard inputs.allSatisfy({ $0 == inputs[0] }) else { throw c.fail("prediction and target shapes differ") }
            return [inputs[0]]
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func gradient(_ op: GraphOp, _ s: GradientStep) throws {
        let (graph, node, x, dy, index) = (s.graph, s.node, s.x, s.dy, s.index)
        switch op {
        case .loss(let op), .lossWithGradient(let op, _):
            guard case .constant(let weight) = dy else {
                throw ShapeError("the loss \(op) of \(x[0]) reaches the root through \(graph.describeUse(of: node.outputs[0])); a loss may only be scaled by constants and summed")
            }
            let gradient = try graph.lossGradient(at: index, weight: weight)
            try s.accumulate(x[0].id, .tensor(gradient.id))
            if op.arity == 2 && s.relevant(x[1].id) {
                // The target depends on what is differentiated too (an
                // identity or cycle term between two generated images).
                switch op {
                case .mse, .l1: try s.accumulate(x[1].id, .tensor(try graph(.scale(-1), gradient).id))
                case .bceWithLogits:
                    try s.accumulate(x[1].id, .tensor(try graph(.scale(-op.gradientScale(count: x[0].shape.count, weight: weight)), x[0]).id))
                default:
                    throw ShapeError("the \(op) loss of \(x[0]) has a target, \(x[1]), that depends on what is differentiated; its targets must be constants")
                }
            }
        case .lossGradient:
            throw ShapeError("\(node.op) is a gradient op; second derivatives are not supported")
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func launches(_ op: GraphOp, _ s: LaunchStep) throws -> () throws -> Void {
        let (b, x, y) = (s.backend, s.x, s.y)
        switch op {
        case .loss(let op):
            return { try b.reduce(op, inputs: Array(x.prefix(op.arity)), output: y[0]) }
        case .lossWithGradient(let op, let weight):
            return { try b.lossWithGradient(op, inputs: Array(x.prefix(op.arity)), loss: y[0], gradient: y[1], weight: weight) }
        case .lossGradient(let op, let weight):
            return { try b.lossGradient(op, inputs: Array(x.prefix(op.arity)), gradient: y[0], weight: weight) }
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }
}
