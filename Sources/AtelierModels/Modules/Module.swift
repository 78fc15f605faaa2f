import AtelierDevices
import AtelierGraph
/// A building block of a model. Subclasses hold their parameters and
/// sub-modules as stored properties; `namedParameters` finds them by
/// reflection, named by property path ("fc1.weight"), so no layer lists its
/// parameters by hand.
open class Module {
    /// A module without parameters of its own.
    public init() {}

    /// Adds this module's computation to `graph`.
    open func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        fatalError("\(type(of: self)) must override callAsFunction(_:_:)")
    }

    /// Every parameter below this module, with its path ("layers.0.weight").
    public func namedParameters(prefix: String = "") -> [(name: String, parameter: Parameter)] {
        var found: [(String, Parameter)] = []
        // A parameter is named by its own name ("weight", "running_mean")
        // under the path of the module holding it, as PyTorch names them.
        func visit(_ value: Any, _ path: String) {
            switch value {
            case let p as Parameter: found.append((prefix.isEmpty ? p.name : prefix + "." + p.name, p))
            case let m as Module: found += m.namedParameters(prefix: path)
            case let list as [Module]:
                for (i, m) in list.enumerated() { found += m.namedParameters(prefix: path + "." + String(i)) }
            case let optional as Parameter?:
                if let p = optional { found.append((prefix.isEmpty ? p.name : prefix + "." + p.name, p)) }
            default: break
            }
        }
        var mirror: Mirror? = Mirror(reflecting: self)
        var fields: [(String, Any)] = []
        while let m = mirror {
            fields = m.children.compactMap { child in child.label.map { ($0, child.value) } } + fields
            mirror = m.superclassMirror
        }
        for (label, value) in fields {
            visit(value, prefix.isEmpty ? label : prefix + "." + label)
        }
        return found
    }

    /// Every parameter, in `namedParameters()` order.
    public var parameters: [Parameter] { namedParameters().map(\.parameter) }
}

/// What a forward pass is built in: the graph and the mode.
public struct ForwardContext {
    /// The graph layers add their ops to.
    public let graph: Graph
    /// BatchNorm uses batch statistics (and updates running ones) when true.
    public let training: Bool
    /// Whether BatchNorm in training mode also updates its running
    /// statistics: not when a pix2pix generator translates on the
    /// statistics of the batch it is given, as pix2pix does at test time.
    public let updatesRunningStatistics: Bool

    /// A context for building into `graph`, in training or eval mode.
    public init(graph: Graph, training: Bool, updatesRunningStatistics: Bool = true) {
        self.graph = graph
        self.training = training
        self.updatesRunningStatistics = updatesRunningStatistics
    }
}

/// Modules applied one after another.
public final class Sequential: Module {
    /// The layers, applied in order.
    public let layers: [Module]

    /// A sequence of `layers` (parameters named by position, as PyTorch's).
    public init(_ layers: [Module]) {
        self.layers = layers
    }

    /// Runs the layers in order. A BatchNorm followed by an activation runs
    /// as one pass, forward and backward: the planner fuses them.
    public override func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        var h = x
        for layer in layers { h = try layer(h, context) }
        return h
    }
}
