/// Optimiser settings of a GAN run.
public struct OptimizerSettings: Codable, Sendable, Equatable {
    public var learningRate: Float = 2e-4
    public var beta1: Float = 0.5
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public init(learningRate: Float = 2e-4, beta1: Float = 0.5, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }
}

/// What a step reports (read back only when asked for).
public struct StepStatistics: Sendable, Equatable {
    public var lossD: Float
    public var lossG: Float
    /// Mean of sigmoid(D(real)), before D's update.
    public var dReal: Float
    /// Mean of sigmoid(D(G(z))), before D's update.
    public var dFake: Float
}

/// Trains a GANModel on one backend. One iteration is one graph, planned
/// once per batch size and replayed:
///   fake = G(z)
///   D step: bce(D(real), 1) + bce(D(fake), 0), gradients of D only (fake is
///           a constant here), then Adam on D;
///   G step: bce(D(fake), 1) through the just-updated D, gradients of G only
///           (none of D's weights), then Adam on G.
/// The Adam updates are enqueued between the two parts of the plan, so the
/// whole iteration runs without the host waiting.
public final class GANTrainer {
    public let model: GANModel
    public let backend: Backend
    public let generatorGroup: ParameterGroup
    public let discriminatorGroup: ParameterGroup
    public var optimizer: OptimizerSettings

    private var stepPlans: [Int: StepPlan] = [:]
    private var samplePlans: [Int: SamplePlan] = [:]
    private var lastPlan: StepPlan?
    /// Set to time every op of the training steps (serialises them).
    public var profiler: OpProfiler? {
        didSet { for p in stepPlans.values { p.plan.profiler = profiler } }
    }

    public init(model: GANModel, backend: Backend, optimizer: OptimizerSettings = OptimizerSettings()) throws {
        self.model = model
        self.backend = backend
        self.optimizer = optimizer
        generatorGroup = try ParameterGroup(model.generator.parameters, on: backend)
        discriminatorGroup = try ParameterGroup(model.discriminator.parameters, on: backend)
        for p in model.generator.parameters + model.discriminator.parameters where !p.trainable {
            try p.place(on: backend)
        }
    }

    struct Inputs {
        let z: Tensor
        let classes: Tensor?
        let planes: Tensor?
    }

    struct StepPlan {
        let plan: Plan
        let split: Int
        let inputs: Inputs
        let real: Tensor
        let fake: Tensor
        let lossD: Tensor, lossG: Tensor, dReal: Tensor, dFake: Tensor
    }

    struct SamplePlan {
        let plan: Plan
        let inputs: Inputs
        let images: Tensor
    }

    /// The noise and, for a conditional model, the one-hot classes; with
    /// `planes`, also the classes as planes for the discriminator, expanded
    /// on the device (the host uploads N x classes floats, not the planes).
    private func makeInputs(_ g: Graph, batch: Int, planes: Bool) throws -> Inputs {
        let c = model.config
        let classes = c.isConditional ? g.input("classes", [batch, c.classes]) : nil
        return Inputs(z: g.input("z", [batch, c.nz]), classes: classes,
                      planes: try classes.flatMap { planes ? try g(.broadcastPlanes(height: c.imageSize, width: c.imageSize), $0) : nil })
    }

    private func stepPlan(batch: Int) throws -> StepPlan {
        if let p = stepPlans[batch] { return p }
        let g = Graph()
        let train = ForwardContext(graph: g, training: true)
        let inputs = try makeInputs(g, batch: batch, planes: true)
        let real = g.input("real", Shape([batch] + model.config.imageShape))
        let ones = g.constant(1, [batch, 1]), zeros = g.constant(0, [batch, 1])

        let fake = try model.generate(inputs.z, classes: inputs.classes, train)
        let logitsReal = try model.discriminate(real, classPlanes: inputs.planes, train)
        let logitsFake = try model.discriminate(fake, classPlanes: inputs.planes, train)
        let lossD = try g(.add, try g(.loss(.bceWithLogits), logitsReal, ones), try g(.loss(.bceWithLogits), logitsFake, zeros))
        let dParams = discriminatorGroup.parameters
        let dGrads = try g.gradients(of: lossD, withRespectTo: dParams.map { g.parameter($0) })
        let dReal = try g(.loss(.mean), try g(.activation(.sigmoid), logitsReal))
        let dFake = try g(.loss(.mean), try g(.activation(.sigmoid), logitsFake))
        let split = g.nodes.count

        let logitsG = try model.discriminate(fake, classPlanes: inputs.planes, train)
        let lossG = try g(.loss(.bceWithLogits), logitsG, ones)
        let gParams = generatorGroup.parameters
        let gGrads = try g.gradients(of: lossG, withRespectTo: gParams.map { g.parameter($0) })

        var bindings: [Tensor: DeviceBuffer] = [:]
        for (p, t) in zip(dParams, dGrads) { bindings[t] = try discriminatorGroup.gradient(of: p) }
        for (p, t) in zip(gParams, gGrads) { bindings[t] = try generatorGroup.gradient(of: p) }
        let plan = try Plan(g, on: backend, keep: [lossD, lossG, dReal, dFake, fake], bindings: bindings)
        let result = StepPlan(plan: plan, split: split, inputs: inputs, real: real, fake: fake,
                              lossD: lossD, lossG: lossG, dReal: dReal, dFake: dFake)
        plan.profiler = profiler
        stepPlans[batch] = result
        return result
    }

    private func writeInputs(_ plan: Plan, _ inputs: Inputs, batch: Int, noise: [Float], classes: [Int]?) throws {
        let c = model.config
        guard noise.count == batch * c.nz else { throw ShapeError("noise holds \(noise.count) values, expected \(batch) x \(c.nz)") }
        try plan.write(noise, to: inputs.z)
        if c.isConditional {
            guard let classes, classes.count == batch else { throw ShapeError("cdcgan needs one class per sample") }
            if let bad = classes.first(where: { !(0..<c.classes).contains($0) }) {
                throw ShapeError("class \(bad) is out of range: the model has \(c.classes) classes (0...\(c.classes - 1))")
            }
            var oneHot = [Float](repeating: 0, count: batch * c.classes)
            for (n, k) in classes.enumerated() { oneHot[n * c.classes + k] = 1 }
            try plan.write(oneHot, to: inputs.classes!)
        }
    }

    /// Enqueues one training iteration on a batch of real images (in the
    /// model's pixel range, [N, C, 28, 28] flattened) with noise [N, nz].
    public func step(real: [Float], noise: [Float], classes: [Int]? = nil) throws {
        let perImage = model.config.imageShape.reduce(1, *)
        guard real.count % perImage == 0, real.count > 0 else {
            throw ShapeError("a batch of real images must hold a whole number of \(model.config.imageShape) images")
        }
        let batch = real.count / perImage
        let p = try stepPlan(batch: batch)
        try p.plan.write(real, to: p.real)
        try writeInputs(p.plan, p.inputs, batch: batch, noise: noise, classes: classes)
        try p.plan.run(nodes: 0..<p.split)
        try adamStep(discriminatorGroup)
        try p.plan.run(nodes: p.split..<p.plan.nodeCount)
        try adamStep(generatorGroup)
        lastPlan = p
        profiler?.steps += 1
    }

    private func adamStep(_ group: ParameterGroup) throws {
        let update = {
            try group.adamStep(learningRate: self.optimizer.learningRate, beta1: self.optimizer.beta1,
                               beta2: self.optimizer.beta2, epsilon: self.optimizer.epsilon)
        }
        guard let profiler else { return try update() }
        // Parameters, gradients and both moments read; parameters and moments written.
        try profiler.measure("adam", cost: OpCost(bytes: Double(group.values.count * 7 * MemoryLayout<Float>.size)),
                             on: backend, update)
    }

    /// The last step's losses and D outputs (waits for the step).
    public func statistics() throws -> StepStatistics {
        guard let p = lastPlan else { throw ShapeError("no training step has run yet") }
        return StepStatistics(lossD: try p.plan.read(p.lossD)[0], lossG: try p.plan.read(p.lossG)[0],
                              dReal: try p.plan.read(p.dReal)[0], dFake: try p.plan.read(p.dFake)[0])
    }

    /// Images from noise [N, nz] (and classes) with BatchNorm in eval mode,
    /// in the model's pixel range.
    public func generate(noise: [Float], classes: [Int]? = nil) throws -> [Float] {
        let batch = noise.count / model.config.nz
        guard batch > 0, noise.count == batch * model.config.nz else {
            throw ShapeError("noise must hold a whole number of \(model.config.nz)-vectors")
        }
        let p: SamplePlan
        if let cached = samplePlans[batch] {
            p = cached
        } else {
            let g = Graph()
            let inputs = try makeInputs(g, batch: batch, planes: false)
            let images = try model.generate(inputs.z, classes: inputs.classes, ForwardContext(graph: g, training: false))
            p = SamplePlan(plan: try Plan(g, on: backend, keep: [images]), inputs: inputs, images: images)
            samplePlans[batch] = p
        }
        try writeInputs(p.plan, p.inputs, batch: batch, noise: noise, classes: classes)
        try p.plan.run()
        return try p.plan.read(p.images)
    }
}
