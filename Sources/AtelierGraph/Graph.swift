import AtelierDevices
/// A tensor in a graph: a handle with a shape, no data.
public struct Tensor: Hashable, Sendable, CustomStringConvertible {
    /// Its index in the graph.
    public let id: Int
    /// Its shape.
    public let shape: Shape
    /// `%id[shape]`, as plans print it.
    public var description: String { "%\(id)\(shape)" }
}

/// Learned weights or persistent state (BatchNorm running statistics) with
/// their device buffer. Trainable ones live in a `ParameterGroup`'s flat
/// buffer, so one Adam launch updates them all.
public final class Parameter: @unchecked Sendable {
    // Safe to share: `buffer` is set once when the owning group is built and
    // only read afterwards.
    /// Its name in checkpoints.
    public let name: String
    /// Its shape.
    public let shape: Shape
    /// Whether an optimizer updates it (running statistics and pools are not).
    public let trainable: Bool
    /// The initial values, used when the parameter is placed on a device.
    package let initial: [Float]
    public package(set) var buffer: DeviceBuffer?

    /// A parameter starting at `initial`.
    public init(name: String, shape: Shape, trainable: Bool = true, initial: [Float]) {
        precondition(initial.count == shape.count, "\(name): \(initial.count) initial values for \(shape)")
        self.name = name
        self.shape = shape
        self.trainable = trainable
        self.initial = initial
    }

    package func bound() throws -> DeviceBuffer {
        guard let buffer else { throw ShapeError("parameter \(name) is not on a device yet: build its ParameterGroup first") }
        return buffer
    }
}

/// A computation built once and replayed every step: forward ops, and the
/// gradient ops `gradients(of:withRespectTo:)` appends. Nodes are kept in
/// the order they were added, which is a topological order.
public final class Graph {
    enum Source {
        case input(String)
        case parameter(Parameter)
        case constant(Float)
        case computed(node: Int)
    }

    struct Node {
        let op: GraphOp
        let inputs: [Int]
        var outputs: [Int]
    }

    private(set) var shapes: [Shape] = []
    private(set) var sources: [Source] = []
    private(set) var nodes: [Node] = []
    /// Nodes so far: where a phase of a training step starts and ends.
    package var nodeCount: Int { nodes.count }
    private var parameterTensors: [ObjectIdentifier: Int] = [:]

    /// An empty graph.
    public init() {}

    private func newValue(_ shape: Shape, _ source: Source) -> Tensor {
        shapes.append(shape)
        sources.append(source)
        return Tensor(id: shapes.count - 1, shape: shape)
    }

    /// Data the caller writes before each run (a batch of images, noise).
    public func input(_ name: String, _ shape: Shape) -> Tensor {
        newValue(shape, .input(name))
    }

    /// A parameter's tensor; the same parameter always gives the same tensor.
    public func parameter(_ p: Parameter) -> Tensor {
        if let id = parameterTensors[ObjectIdentifier(p)] { return Tensor(id: id, shape: shapes[id]) }
        let t = newValue(p.shape, .parameter(p))
        parameterTensors[ObjectIdentifier(p)] = t.id
        return t
    }

    /// The step's random seed [2] that dropout layers read (DropoutOp):
    /// one input per graph, written by whoever runs the plan every step.
    public private(set) var seedInput: Tensor?
    private var salts = 0

    /// `seedInput`, made on first use.
    public func stepSeed() -> Tensor {
        if let seedInput { return seedInput }
        let t = input("step_seed", [2])
        seedInput = t
        return t
    }

    /// A number no other random layer of this graph has (a dropout's salt).
    public func nextSalt() -> Int {
        salts += 1
        return salts
    }

    /// A tensor filled with one value (loss targets).
    public func constant(_ value: Float, _ shape: Shape) -> Tensor {
        newValue(shape, .constant(value))
    }

    /// Adds `op` on `inputs`, checking shapes; returns its outputs.
    @discardableResult
    public func apply(_ op: GraphOp, _ inputs: [Tensor]) throws -> [Tensor] {
        for t in inputs where t.id >= shapes.count || shapes[t.id] != t.shape {
            throw ShapeError("\(op): tensor \(t) does not belong to this graph")
        }
        let outputShapes = try op.outputShapes(inputs.map(\.shape))
        let index = nodes.count
        nodes.append(Node(op: op, inputs: inputs.map(\.id), outputs: []))
        let outputs = outputShapes.map { newValue($0, .computed(node: index)) }
        nodes[index].outputs = outputs.map(\.id)
        return outputs
    }

    /// `apply` for single-output ops.
    public func callAsFunction(_ op: GraphOp, _ inputs: Tensor...) throws -> Tensor {
        try apply(op, inputs)[0]
    }

    func tensor(_ id: Int) -> Tensor { Tensor(id: id, shape: shapes[id]) }

    /// The gradient of `weight` x the loss at node `index` with respect to
    /// its prediction. The first time, the loss node itself is turned into
    /// one that also outputs it (one pass for both); a loss differentiated
    /// again (in another phase of the same graph) gets a gradient node of
    /// its own, unless the weight is the same.
    func lossGradient(at index: Int, weight: Float) throws -> Tensor {
        switch nodes[index].op {
        case .lossWithGradient(let op, let fused):
            if fused == weight { return tensor(nodes[index].outputs[1]) }
            return try self(.lossGradient(op, weight: weight), inputs: nodes[index].inputs)
        case .loss(let op):
            let gradient = newValue(shapes[nodes[index].inputs[0]], .computed(node: index))
            nodes[index] = Node(op: .lossWithGradient(op, weight: weight), inputs: nodes[index].inputs,
                                outputs: nodes[index].outputs + [gradient.id])
            return gradient
        default:
            throw ShapeError("node \(index) (\(nodes[index].op)) is not a loss")
        }
    }

    private func callAsFunction(_ op: GraphOp, inputs: [Int]) throws -> Tensor {
        try apply(op, inputs.map(tensor))[0]
    }

    /// The parameter behind a tensor, if it is one.
    func parameter(of id: Int) -> Parameter? {
        if case .parameter(let p) = sources[id] { return p }
        return nil
    }

    /// Every parameter the graph reads.
    public var parameters: [Parameter] {
        sources.compactMap { if case .parameter(let p) = $0 { return p } else { return nil } }
    }
}
