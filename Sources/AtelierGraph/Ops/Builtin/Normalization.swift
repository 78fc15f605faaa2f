import AtelierDevices

/// BatchNorm (training and evaluation, with the activation after it when fused) and its gradient.
/// Shape rules, gradient rules and how the planner runs them, in one place
/// (the other families are beside this file; OpRules says how they are used).
enum NormalizationOps: OpRules {
    static func outputShapes(_ op: GraphOp, _ c: ShapeCheck) throws -> [Shape] {
        let inputs = c.inputs
        switch op {
        case .batchNorm(_, _, let training, let act):
            try act.validate()
            try c.expectCount(5)
            guard let layout = inputs[0].channelLayout, inputs[1...].allSatisfy({ $0 == [layout.channels] }) else {
                throw c.fail("needs x [N, C, ...] and four [C] vectors")
            }
            if training && layout.perChannel < 2 { throw c.fail("training mode needs more than one value per channel") }
            return training ? [inputs[0], [layout.channels], [layout.channels]] : [inputs[0]]
        case .batchNormBackward(let act):
            // x, dz, gamma, mean, invstd, and unless identity the activation's
            // output z and beta (a ReLU-type gradient may take its mask from x
            // and beta instead of reading z).
            try c.expectCount(act == .identity ? 5 : 7)
            let c = inputs[2]
            return [inputs[0], c, c]
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func gradient(_ op: GraphOp, _ s: GradientStep) throws {
        let (graph, node, x) = (s.graph, s.node, s.x)
        switch op {
        case .batchNorm(_, _, let training, let act):
            guard training else { throw ShapeError("BatchNorm in eval mode has no gradient here; train in training mode") }
            let g = try s.dyTensor()
            let activated = act == .identity ? [] : [graph.tensor(node.outputs[0]), x[2]]
            let out = try graph.apply(.batchNormBackward(activation: act),
                                [x[0], g, x[1], graph.tensor(node.outputs[1]), graph.tensor(node.outputs[2])] + activated)
            try s.accumulate(x[0].id, .tensor(out[0].id))
            try s.accumulate(x[1].id, .tensor(out[1].id))
            try s.accumulate(x[2].id, .tensor(out[2].id))
        case .batchNormBackward:
            throw ShapeError("\(node.op) is a gradient op; second derivatives are not supported")
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }

    static func launches(_ op: GraphOp, _ s: LaunchStep) throws -> () throws -> Void {
        let (b, x, y, inShapes) = (s.backend, s.x, s.y, s.inShapes)
        switch op {
        case .batchNorm(let momentum, let epsilon, let training, let act):
            let layout = inShapes[0].channelLayout!
            let state = BatchNormState(gamma: x[1], beta: x[2], runningMean: x[3], runningVar: x[4], momentum: momentum, epsilon: epsilon)
            if training {
                return {
                    try b.batchNormForwardTraining(layout: layout, input: x[0], state: state, activation: act, output: y[0],
                                                   saved: BatchNormSaved(mean: y[1], invStd: y[2]))
                }
            }
            return { try b.batchNormForwardInference(layout: layout, input: x[0], state: state, activation: act, output: y[0]) }
        case .batchNormBackward(let act):
            let layout = inShapes[0].channelLayout!
            return {
                try b.batchNormBackward(layout: layout, input: x[0], outputGradient: x[1], gamma: x[2],
                                        saved: BatchNormSaved(mean: x[3], invStd: x[4]), activation: act,
                                        activated: act == .identity ? nil : x[5], beta: act == .identity ? nil : x[6],
                                        inputGradient: y[0], gammaGradient: y[1], betaGradient: y[2])
            }
        default: preconditionFailure("\(op) is not a \(Self.self) op")
        }
    }
}
