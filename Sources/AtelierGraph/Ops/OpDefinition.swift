import AtelierDevices
/// An op defined in one place: its shape rule, its gradient rule and how it
/// runs (as DeviceKernels, so on every backend), in one file under
/// Ops/Definitions with its kernels in Kernels/*.cl; its tests come from
/// OpRegistry, which every op joins with sample shapes.
public protocol OpDefinition: Sendable, CustomStringConvertible {
    /// Tells ops (and their parameters) apart: equal keys, equal ops.
    var key: String { get }
    /// Output shapes from input shapes, or a ShapeError naming the problem.
    func outputShapes(_ inputs: [Shape]) throws -> [Shape]
    /// Appends ops computing d loss / d input for each input `wanted` from
    /// d loss / d output 0, `dy`; nil for inputs not wanted (and for ops
    /// that are gradients themselves, which throw if asked).
    func gradients(_ graph: Graph, inputs: [Tensor], outputs: [Tensor], dy: Tensor, wanted: [Bool]) throws -> [Tensor?]
    /// The kernels of one run on the given buffers; `scratch(count)` gives
    /// a buffer of the backend's that lives as long as the kernels.
    func kernels(inputs: [DeviceBuffer], outputs: [DeviceBuffer], inputShapes: [Shape],
                 scratch: (Int) throws -> DeviceBuffer) throws -> [DeviceKernel]
}

/// An OpDefinition as a GraphOp's payload: compared by key.
public struct CustomOp: Hashable, Sendable, CustomStringConvertible {
    public let definition: any OpDefinition
    public init(_ definition: any OpDefinition) { self.definition = definition }
    public static func == (a: CustomOp, b: CustomOp) -> Bool { a.definition.key == b.definition.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(definition.key) }
    public var description: String { definition.description }
}

extension Graph {
    /// Adds a defined op; returns its outputs.
    @discardableResult
    public func apply(_ op: any OpDefinition, _ inputs: [Tensor]) throws -> [Tensor] {
        try apply(.custom(CustomOp(op)), inputs)
    }
}

extension OpDefinition {
    /// For gradient ops: second derivatives are not supported.
    func noGradient() throws -> [Tensor?] {
        throw ShapeError("\(self) is a gradient op; second derivatives are not supported")
    }
}
