import AtelierDevices
import AtelierGraph
import AtelierModels
/// Trains any `TrainingModel` on one backend. One iteration is one graph,
/// built by the model's `buildStep`, planned once per batch size and
/// replayed: each phase's ops, then its group's Adam update, phase after
/// phase, all enqueued without the host waiting. Statistics are read back
/// only when asked for.
public final class Trainer {
    /// The model it trains.
    public let model: TrainingModel
    /// The device the parameters and steps live on.
    public let backend: Backend
    /// The groups in the model's order, with their settings.
    public private(set) var groupSpecs: [ParameterGroupSpec]
    /// The parameter groups by name, each with its flat Adam buffers.
    public let groups: [String: ParameterGroup]
    /// The epoch (0-based) the schedules are at; the training loop sets it.
    public var epoch = 0
    /// Mixed with the step count into each step's seed of random layers
    /// (dropout): the run's --seed.
    public var randomSeed: UInt64 = 0

    private var plans: [Int: StepPlan] = [:]
    private var lastPlan: StepPlan?
    /// Set to time every op of the training steps (serialises them).
    public var profiler: OpProfiler? {
        didSet { for p in plans.values { p.plan.profiler = profiler } }
    }

    struct StepPlan {
        let plan: Plan
        let inputs: [String: Tensor]
        let phases: [(nodes: Range<Int>, group: String)]
        let seed: Tensor?
        let statistics: [(name: String, kind: StepStatistics.Kind, value: Tensor)]
    }

    /// Places the model's parameters on `backend` and builds its parameter groups;
    /// the step's plans are built on the first step of each batch size.
    public init(model: TrainingModel, backend: Backend) throws {
        self.model = model
        self.backend = backend
        groupSpecs = model.parameterGroups
        var groups: [String: ParameterGroup] = [:]
        var claimed: [String: String] = [:]
        for spec in groupSpecs {
            try spec.schedule.validate()
            var parameters: [Parameter] = []
            for name in spec.networks {
                if let other = claimed[name] { throw ShapeError("network \(name) is in parameter groups \(other) and \(spec.name)") }
                claimed[name] = spec.name
                parameters += try model.network(name).parameters
            }
            groups[spec.name] = try ParameterGroup(parameters, on: backend)
            for p in parameters where !p.trainable { try p.place(on: backend) }
        }
        self.groups = groups
        // Networks no group trains still need their buffers (frozen networks).
        for network in model.networks where claimed[network.name] == nil {
            for p in network.module.parameters { try p.place(on: backend) }
        }
    }

    /// The group named `name`.
    public func group(_ name: String) throws -> ParameterGroup {
        guard let g = groups[name] else { throw ShapeError("the model has no parameter group \(name)") }
        return g
    }

    /// Replaces the groups' optimizer settings and schedules (a resumed run
    /// keeps the ones it was started with).
    public func setGroupSpecs(_ specs: [ParameterGroupSpec]) throws {
        guard specs.map(\.name) == groupSpecs.map(\.name), specs.map(\.networks) == groupSpecs.map(\.networks) else {
            throw CheckpointError("the checkpoint's parameter groups \(specs.map(\.name)) are not this model's \(groupSpecs.map(\.name))")
        }
        for s in specs { try s.schedule.validate() }
        groupSpecs = specs
    }

    /// The learning rate of a group in the current epoch.
    public func learningRate(_ spec: ParameterGroupSpec) -> Float {
        spec.optimizer.learningRate * spec.schedule.factor(epoch: epoch)
    }

    private func stepPlan(batch: Int) throws -> StepPlan {
        if let p = plans[batch] { return p }
        let builder = StepBuilder(batch: batch, groups: groups.mapValues(\.parameters))
        try model.buildStep(builder)
        guard !builder.phases.isEmpty else { throw ShapeError("the model's step declares no phase") }
        // A group updated by two phases would have its gradients overwritten.
        if let twice = Dictionary(grouping: builder.phases, by: \.group).first(where: { $0.value.count > 1 })?.key {
            throw ShapeError("group \(twice) is updated by two phases; give each phase its own group")
        }
        var bindings: [Tensor: DeviceBuffer] = [:]
        for phase in builder.phases {
            let group = try group(phase.group)
            for (p, t) in phase.gradients { bindings[t] = try group.gradient(of: p) }
        }
        let statistics = builder.orderedStatistics.map { (name: $0.name, kind: $0.kind, value: $0.value) }
        let plan = try Plan(builder.graph, on: backend, keep: statistics.map(\.value), bindings: bindings)
        plan.profiler = profiler
        let result = StepPlan(plan: plan, inputs: builder.inputs, phases: builder.phases.map { ($0.nodes, $0.group) },
                              seed: builder.graph.seedInput, statistics: statistics)
        plans[batch] = result
        return result
    }

    /// Enqueues one iteration with `feed` holding every declared input by
    /// name ([batch, ...] flattened).
    public func step(batch: Int, feed: [String: [Float]]) throws {
        guard batch >= 1 else { throw ShapeError("a step needs at least one sample") }
        let p = try stepPlan(batch: batch)
        // Checked in name order, so the same mistake gives the same error.
        for (name, values) in feed.sorted(by: { $0.key < $1.key }) {
            guard let tensor = p.inputs[name] else {
                throw ShapeError("input \(name) is not one the step declares (\(p.inputs.keys.sorted().joined(separator: ", ")))")
            }
            guard values.count == tensor.shape.count else {
                throw ShapeError("input \(name) holds \(values.count) values; \(tensor.shape) needs \(tensor.shape.count)")
            }
        }
        if let missing = p.inputs.keys.sorted().first(where: { feed[$0] == nil }) {
            throw ShapeError("the step needs input \(missing), which was not given")
        }
        for (name, tensor) in p.inputs { try p.plan.write(feed[name]!, to: tensor) }
        if let seed = p.seed { try p.plan.write(DropoutOp.seedValues(stepSeed), to: seed) }
        // Phases run in order; where a fusion spans a phase boundary the plan refuses the split.
        var next = 0
        for (index, phase) in p.phases.enumerated() {
            let end = index + 1 < p.phases.count ? phase.nodes.upperBound : p.plan.nodeCount
            try p.plan.run(nodes: next..<end)
            next = end
            try adamStep(phase.group)
        }
        lastPlan = p
        profiler?.steps += 1
    }

    private func adamStep(_ name: String) throws {
        let group = try group(name)
        let spec = groupSpecs.first { $0.name == name }!
        let o = spec.optimizer
        let rate = learningRate(spec)
        let update = { try group.adamStep(learningRate: rate, beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon) }
        guard let profiler else { return try update() }
        // Parameters, gradients and both moments read; parameters and moments written.
        try profiler.measure("adam", cost: OpCost(bytes: Double(group.values.count * 7 * MemoryLayout<Float>.size)),
                             on: backend, update)
    }

    /// The last step's statistics (waits for the step).
    public func statistics() throws -> StepStatistics {
        guard let p = lastPlan else { throw ShapeError("no training step has run yet") }
        return StepStatistics(names: p.statistics.map(\.name), kinds: p.statistics.map(\.kind),
                              values: try p.statistics.map { try p.plan.read($0.value)[0] })
    }

    /// The names and kinds of what a step at `batch` reports, in order
    /// (plans that step if it is not yet).
    public func statisticNames(batch: Int) throws -> [(name: String, kind: StepStatistics.Kind)] {
        try stepPlan(batch: batch).statistics.map { ($0.name, $0.kind) }
    }

    /// This step's seed of random layers: the run's seed and the steps taken
    /// (the first group's Adam steps, which a checkpoint restores), mixed.
    var stepSeed: UInt32 {
        let steps = UInt64(groups[groupSpecs[0].name]!.step)
        return DropoutOp.mix(UInt32(truncatingIfNeeded: randomSeed) ^ DropoutOp.mix(UInt32(truncatingIfNeeded: randomSeed >> 32)))
            ^ DropoutOp.mix(UInt32(truncatingIfNeeded: steps) &+ 0x9E37_79B9)
    }

    /// Adam steps taken by each group.
    public var adamSteps: [String: Int] { groups.mapValues(\.step) }
}
