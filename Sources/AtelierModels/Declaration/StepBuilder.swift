import AtelierDevices
import AtelierGraph
/// Where a model declares one training iteration: its inputs, then its
/// phases in order. Each phase is a weighted sum of named loss terms built
/// on the graph, and the group whose parameters it updates; the trainer
/// differentiates the sum with respect to that group alone (everything else,
/// such as a generator's output in the discriminator's phase, is a constant
/// there) and runs the group's Adam step right after the phase.
public final class StepBuilder {
    /// The step's graph.
    public let graph = Graph()
    /// The batch size the step is built for.
    public let batch: Int
    /// Training mode (BatchNorm on batch statistics, dropout on).
    public let context: ForwardContext

    /// One phase as the trainer runs it.
    package struct Phase {
        package let name: String
        package let group: String
        /// The phase's nodes: its forward ops, gradients and statistics.
        package let nodes: Range<Int>
        package let total: Tensor
        package let gradients: [(Parameter, Tensor)]
    }

    package struct Statistic {
        package let name: String
        package let value: Tensor
        package let kind: StepStatistics.Kind
    }

    package private(set) var inputs: [String: Tensor] = [:]
    package private(set) var phases: [Phase] = []
    package private(set) var statistics: [Statistic] = []
    private let groups: [String: [Parameter]]

    package init(batch: Int, groups: [String: [Parameter]]) {
        self.batch = batch
        self.groups = groups
        context = ForwardContext(graph: graph, training: true)
    }

    /// A per-step input of `sampleShape` per sample; the caller feeds it by
    /// name every step.
    public func input(_ name: String, sampleShape: [Int]) throws -> Tensor {
        guard inputs[name] == nil else { throw ShapeError("the step declares input \(name) twice") }
        let t = graph.input(name, Shape([batch] + sampleShape))
        inputs[name] = t
        return t
    }

    /// The terms of one phase, as its body adds them.
    public struct Terms {
        let graph: Graph
        var terms: [(name: String, weight: Float, value: Tensor, reported: Bool)] = []
        var statistics: [(String, Tensor)] = []

        /// A loss term, `weight` x `value` in the phase's sum; `reported`
        /// terms appear, unweighted, in losses.csv and the progress line.
        public mutating func add(_ name: String, _ value: Tensor, weight: Float = 1, reported: Bool = true) throws {
            guard value.shape == [] else { throw ShapeError("loss term \(name) must be a scalar, got \(value.shape)") }
            guard weight.isFinite else { throw ShapeError("loss term \(name) has weight \(weight)") }
            terms.append((name, weight, value, reported))
        }

        /// A scalar reported beside the losses (D(x), say) that is not trained.
        public mutating func report(_ name: String, _ value: Tensor) throws {
            guard value.shape == [] else { throw ShapeError("statistic \(name) must be a scalar, got \(value.shape)") }
            statistics.append((name, value))
        }
    }

    /// Adds a phase that updates `group` by the weighted sum of the terms
    /// `body` adds, reported as `total`. Returns that sum.
    @discardableResult
    public func phase(_ name: String, updates group: String, total: String, _ body: (inout Terms) throws -> Void) throws -> Tensor {
        guard let parameters = groups[group] else {
            throw ShapeError("phase \(name) updates group \(group), which the model does not declare (it has \(groups.keys.sorted().joined(separator: ", ")))")
        }
        let start = graph.nodeCount
        var terms = Terms(graph: graph)
        try body(&terms)
        guard !terms.terms.isEmpty else { throw ShapeError("phase \(name) has no loss terms") }
        // Weight 1 adds no op: a plain sum stays the graph it always was.
        var sum: Tensor?
        for term in terms.terms {
            let weighted = term.weight == 1 ? term.value : try graph(.scale(term.weight), term.value)
            sum = try sum.map { try graph(.add, $0, weighted) } ?? weighted
        }
        let gradients = try graph.gradients(of: sum!, withRespectTo: parameters.map { graph.parameter($0) })
        let names = statistics.map(\.name) + [total] + terms.terms.filter(\.reported).map(\.name) + terms.statistics.map(\.0)
        if let twice = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw ShapeError("the step reports \(twice) twice; give each term and statistic its own name")
        }
        statistics.append(Statistic(name: total, value: sum!, kind: .total))
        for term in terms.terms where term.reported { statistics.append(Statistic(name: term.name, value: term.value, kind: .term)) }
        for (statName, value) in terms.statistics { statistics.append(Statistic(name: statName, value: value, kind: .score)) }
        phases.append(Phase(name: name, group: group, nodes: start..<graph.nodeCount, total: sum!,
                            gradients: Array(zip(parameters, gradients))))
        return sum!
    }

    /// Statistics in report order: phase totals, then the rest as declared.
    package var orderedStatistics: [Statistic] {
        statistics.filter { $0.kind == .total } + statistics.filter { $0.kind != .total }
    }
}

/// What a step reports, by name, in the model's order (read back only when asked for).
public struct StepStatistics: Sendable, Equatable {
    /// What a statistic is: a loss (drawn in loss.png) or a score in [0, 1].
    public enum Kind: String, Sendable, Equatable {
        /// A phase's weighted sum of terms (Loss_D, Loss_G).
        case total
        /// One loss term, unweighted (G_L1).
        case term
        /// A reported value that is not a loss (D(x)).
        case score
    }

    /// The statistics' names, in losses.csv's order.
    public let names: [String]
    /// What each one is.
    public let kinds: [Kind]
    /// Their values at the step.
    public let values: [Float]

    /// The statistics of one step.
    public init(names: [String], kinds: [Kind], values: [Float]) {
        self.names = names
        self.kinds = kinds
        self.values = values
    }

    /// The value of the statistic named `name`.
    public subscript(name: String) -> Float? {
        names.firstIndex(of: name).map { values[$0] }
    }

    /// The column name of a statistic in losses.csv: lower case, other
    /// characters as single underscores ("D(G(z))" -> "d_g_z").
    public static func column(_ name: String) -> String {
        var out = ""
        for ch in name.lowercased() {
            if ch.isLetter || ch.isNumber { out.append(ch) } else if !out.hasSuffix("_") { out.append("_") }
        }
        while out.hasSuffix("_") { out.removeLast() }
        return out
    }
}
