import AtelierDevices
import AtelierGraph
/// gan, dcgan and cdcgan as declarations on the generic trainer:
///   fake = G(z)
///   phase D (updates "discriminator"): Loss_D = loss(D(real), real) +
///     loss(D(fake), fake); fake is a constant here, so G gets no gradient;
///     D(x) and D(G(z)) are reported;
///   phase G (updates "generator"): Loss_G = G's loss on D(fake) through the
///     just-updated D, with no gradient for D's weights.
/// With the auxiliary classifier (cdcgan, `classLoss` > 0), D also learns
/// to name the class of real pictures (softmax cross-entropy, D_class) and G
/// is trained to have its pictures named as asked (G_class), both weighted
/// by `classLoss`. D learns classes from real pictures only: taught to name
/// generated ones as asked too, it would accept a poor garment for its
/// label, and G would have less to live up to.
extension GANModel: TrainingModel {
    /// `generator` and `discriminator`.
    public var networks: [Network] { [Network("generator", generator), Network("discriminator", discriminator)] }

    /// One group per network, each with its own Adam.
    public var parameterGroups: [ParameterGroupSpec] {
        var discriminatorOptimizer = optimizer
        if let rate = remedies.discriminatorLearningRate { discriminatorOptimizer.learningRate = rate }
        return [ParameterGroupSpec(name: "discriminator", networks: ["discriminator"], optimizer: discriminatorOptimizer, schedule: schedule),
                ParameterGroupSpec(name: "generator", networks: ["generator"], optimizer: optimizer, schedule: schedule)]
    }

    /// The D phase, then the G phase, on real images and noise fed each step.
    public func buildStep(_ step: StepBuilder) throws {
        let g = step.graph
        let c = config
        let context = step.context
        let z = try step.input("z", sampleShape: [c.nz])
        let classes = c.isConditional ? try step.input("classes", sampleShape: [c.classes]) : nil
        // Class planes for D are expanded on the device from the one-hot labels.
        let planes = c.auxiliaryClassifier ? nil : try classes.map { try g(.broadcastPlanes(height: c.imageSize, width: c.imageSize), $0) }
        var real = try step.input("real", sampleShape: c.imageShape)
        var fake = try generate(z, classes: classes, context)
        // Instance noise: what D sees, real or generated, with noise the feed scales as it anneals.
        if remedies.instanceNoise > 0 {
            real = try g(.add, real, try step.input("noise_real", sampleShape: c.imageShape))
            fake = try g(.add, fake, try step.input("noise_fake", sampleShape: c.imageShape))
        }
        let loss = c.ganMode
        let smoothing = remedies.labelSmoothing
        try step.phase("D", updates: "discriminator", total: "Loss_D") { terms in
            let (scoresReal, namedReal) = try verdictAndClasses(try discriminate(real, classPlanes: planes, context), g)
            // Only real pictures teach D the classes, so the generated batch's class logits are not sliced (every node runs).
            let scoresFake = try verdict(try discriminate(fake, classPlanes: planes, context), g)
            if let namedReal, let classes {
                try terms.add("D_class", try classLoss(namedReal, classes, g), weight: c.classLoss)
            }
            try terms.add("D_real", try loss.discriminator(scoresReal, real: true, smoothing: smoothing, g), reported: false)
            try terms.add("D_fake", try loss.discriminator(scoresFake, real: false, g), reported: false)
            try terms.report("D(x)", try loss.meanScore(scoresReal, g))
            try terms.report("D(G(z))", try loss.meanScore(scoresFake, g))
        }
        try step.phase("G", updates: "generator", total: "Loss_G") { terms in
            let (scores, named) = try verdictAndClasses(try discriminate(fake, classPlanes: planes, context), g)
            if let named, let classes { try terms.add("G_class", try classLoss(named, classes, g), weight: c.classLoss) }
            try terms.add("G_GAN", try loss.generator(scores, g), reported: named != nil)
        }
    }

    /// The mean softmax cross-entropy of class logits [N, k] against one-hot classes [N, k].
    func classLoss(_ logits: Tensor, _ classes: Tensor, _ g: Graph) throws -> Tensor {
        try g(.loss(.mean), try g.apply(SoftmaxCrossEntropyOp(), [logits, classes])[0])
    }

    /// A step's inputs: real images in the model's pixel range ([N, C, S, S]
    /// flattened), noise [N, nz], for a conditional model each sample's
    /// class, and with instance noise the noise added to D's real and
    /// generated inputs (scaled already).
    public func feed(real: [Float], noise: [Float], classes: [Int]? = nil,
                     instanceNoise: (real: [Float], fake: [Float])? = nil) throws -> (batch: Int, feed: [String: [Float]]) {
        let perImage = config.imageShape.reduce(1, *)
        guard real.count % perImage == 0, real.count > 0 else {
            throw ShapeError("a batch of real images must hold a whole number of \(config.imageShape) images")
        }
        let batch = real.count / perImage
        var feed = ["real": real, "z": try checkedNoise(noise, batch: batch)]
        if let oneHot = try oneHot(classes, batch: batch) { feed["classes"] = oneHot }
        if remedies.instanceNoise > 0 {
            guard let instanceNoise, instanceNoise.real.count == real.count, instanceNoise.fake.count == real.count else {
                throw ShapeError("with instance noise, a step needs the noise for every real and generated image")
            }
            (feed["noise_real"], feed["noise_fake"]) = (instanceNoise.real, instanceNoise.fake)
        }
        return (batch, feed)
    }

    func checkedNoise(_ noise: [Float], batch: Int) throws -> [Float] {
        guard noise.count == batch * config.nz else { throw ShapeError("noise holds \(noise.count) values, expected \(batch) x \(config.nz)") }
        return noise
    }

    /// The one-hot classes of a conditional model (nil for the others).
    func oneHot(_ classes: [Int]?, batch: Int) throws -> [Float]? {
        guard config.isConditional else { return nil }
        let k = config.classes
        guard let classes, classes.count == batch else { throw ShapeError("cdcgan needs one class per sample") }
        if let bad = classes.first(where: { !(0..<k).contains($0) }) {
            throw ShapeError("class \(bad) is out of range: the model has \(k) classes (0...\(k - 1))")
        }
        var oneHot = [Float](repeating: 0, count: batch * k)
        for (n, label) in classes.enumerated() { oneHot[n * k + label] = 1 }
        return oneHot
    }
}

/// Images from a GAN's generator with BatchNorm in eval mode, one plan per
/// batch size.
public final class GANSampler {
    /// The model it draws from.
    public let model: GANModel
    /// The device its parameters are on.
    public let backend: Backend
    private var plans: [Int: (plan: Plan, z: Tensor, classes: Tensor?, images: Tensor, seed: Tensor?)] = [:]

    /// BatchNorm on each call's own batch statistics, as PyTorch's nets draw
    /// in training mode (the running statistics are left as they are);
    /// false: the running statistics, as `netG.eval()` draws.
    public let batchStatistics: Bool

    /// The model's parameters must be on `backend` (a Trainer puts them there).
    public init(model: GANModel, backend: Backend, batchStatistics: Bool = false) {
        self.model = model
        self.backend = backend
        self.batchStatistics = batchStatistics
    }

    /// Images from noise [N, nz] (and classes), in the model's pixel range.
    public func generate(noise: [Float], classes: [Int]? = nil) throws -> [Float] {
        let nz = model.config.nz
        let batch = noise.count / nz
        guard batch > 0, noise.count == batch * nz else { throw ShapeError("noise must hold a whole number of \(nz)-vectors") }
        if plans[batch] == nil {
            let g = Graph()
            let z = g.input("z", [batch, nz])
            let classes = model.config.isConditional ? g.input("classes", [batch, model.config.classes]) : nil
            let context = ForwardContext(graph: g, training: batchStatistics, updatesRunningStatistics: false)
            let images = try model.generate(z, classes: classes, context)
            plans[batch] = (try Plan(g, on: backend, keep: [images]), z, classes, images, g.seedInput)
        }
        let p = plans[batch]!
        // Dropout kept on when sampling draws the same masks every time.
        if let seed = p.seed { try p.plan.write(DropoutOp.seedValues(0), to: seed) }
        try p.plan.write(try model.checkedNoise(noise, batch: batch), to: p.z)
        if let t = p.classes, let oneHot = try model.oneHot(classes, batch: batch) { try p.plan.write(oneHot, to: t) }
        try p.plan.run()
        return try p.plan.read(p.images)
    }
}
