import AtelierDevices

/// The built-in ops' rules, one family a file in this folder: each family
/// holds its ops' shape rules, gradient rules and how the planner runs them,
/// so an op is read and changed in one place. GraphOp's shape rule, autodiff
/// and the planner dispatch to `GraphOp.rules`. (Ops defined with
/// OpDefinition bring the same three parts themselves; CustomOps runs them.)
protocol OpRules {
    static func outputShapes(_ op: GraphOp, _ c: ShapeCheck) throws -> [Shape]
    /// Appends the ops of the inputs' gradients (through `s.accumulate`).
    static func gradient(_ op: GraphOp, _ s: GradientStep) throws
    /// The op's launches with their buffers bound (ops that are not a GEMM or convolution).
    static func launches(_ op: GraphOp, _ s: LaunchStep) throws -> () throws -> Void
    /// A GEMM or convolution node's work, which the planner binds and fuses.
    static func compute(_ op: GraphOp, inShapes: [Shape], outShape: Shape) throws -> Plan.Compute?
}

extension OpRules {
    static func launches(_ op: GraphOp, _ s: LaunchStep) throws -> () throws -> Void {
        preconditionFailure("\(op) is bound as a GEMM or convolution")
    }
    static func compute(_ op: GraphOp, inShapes: [Shape], outShape: Shape) throws -> Plan.Compute? { nil }
}

extension GraphOp {
    /// The family whose rules this op follows.
    var rules: OpRules.Type {
        switch self {
        case .matmul: LinearOps.self
        case .conv2d, .convTranspose2d, .conv2dBackwardData, .conv2dBackwardWeights: ConvolutionOps.self
        case .batchNorm, .batchNormBackward: NormalizationOps.self
        case .biasAdd, .channelSum, .activation, .activationGradient, .add, .scale: ElementwiseOps.self
        case .reshape, .concatChannels, .sliceChannels, .broadcastPlanes: LayoutOps.self
        case .loss, .lossWithGradient, .lossGradient: LossOps.self
        case .custom: CustomOps.self
        }
    }
}

/// What a shape rule checks inputs with: the error names the op and the shapes.
struct ShapeCheck {
    let op: GraphOp
    let inputs: [Shape]
    func fail(_ why: String) -> ShapeError {
        ShapeError("\(op) on \(inputs.map(\.description).joined(separator: ", ")): \(why)")
    }
    func expectCount(_ n: Int) throws {
        guard inputs.count == n else { throw fail("takes \(n) inputs") }
    }
}

/// d root / d value during autodiff: a constant (a scalar on the path from
/// a loss term to the root through sums and constant factors) or a tensor.
enum GradientValue {
    case constant(Float)
    case tensor(Int)
}

/// What a gradient rule works with: the node, its inputs, d root / d its
/// first output, and where each input's gradient is added.
struct GradientStep {
    let graph: Graph
    let index: Int
    let node: Graph.Node
    let x: [Tensor]
    let dy: GradientValue
    let relevant: (Int) -> Bool
    let accumulate: (Int, GradientValue) throws -> Void

    /// dy as a tensor (a constant becomes a one-value tensor).
    func dyTensor() throws -> Tensor {
        switch dy {
        case .tensor(let id): return graph.tensor(id)
        case .constant(let c): return try graph.constantLike(graph.tensor(node.outputs[0]), c)
        }
    }
}

/// What a launch rule binds: the backend, the node's buffers and shapes.
struct LaunchStep {
    let backend: Backend
    let x: [DeviceBuffer]
    let y: [DeviceBuffer]
    let inShapes: [Shape]
    let outShape: Shape
}

/// Ops defined with OpDefinition: their rules are their own.
enum CustomOps: OpRules {
    static func outputShapes(_ op: GraphOp, _ c: ShapeCheck) throws -> [Shape] {
        guard case .custom(let op) = op else { preconditionFailure("\(op) is not a defined op") }
        do { return try op.definition.outputShapes(c.inputs) } catch let error as ShapeError { throw c.fail(error.description) }
    }

    static func gradient(_ op: GraphOp, _ s: GradientStep) throws {
        guard case .custom(let op) = op else { preconditionFailure("\(op) is not a defined op") }
        let grads = try op.definition.gradients(s.graph, inputs: s.x, outputs: s.node.outputs.map(s.graph.tensor), dy: try s.dyTensor(),
                                                wanted: s.x.map { s.relevant($0.id) })
        for (input, gradient) in zip(s.x, grads) {
            if let gradient { try s.accumulate(input.id, .tensor(gradient.id)) }
        }
    }

    static func launches(_ op: GraphOp, _ s: LaunchStep) throws -> () throws -> Void {
        guard case .custom(let op) = op else { preconditionFailure("\(op) is not a defined op") }
        let b = s.backend
        let kernels = try op.definition.kernels(inputs: s.x, outputs: s.y, inputShapes: s.inShapes) { try b.buffer(count: $0) }
        return { for k in kernels { try b.run(k) } }
    }
}
