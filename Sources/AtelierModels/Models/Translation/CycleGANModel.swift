import AtelierDevices
import AtelierGraph
/// CycleGAN (Zhu et al.; junyanz/pytorch-CycleGAN-and-pix2pix's defaults):
/// G_A maps A to B and G_B maps B to A (ResNet generators); D_A judges B
/// pictures and D_B judges A pictures (PatchGANs). One iteration:
///   fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A)
///   phase G (updates G_A and G_B): Loss_G = G_A + G_B + cycle_A + cycle_B +
///     idt_A + idt_B, the GAN terms through D_A(fake_B) and D_B(fake_A),
///     cycle_A = lambda_A |rec_A - A|, idt_A = lambda_B lambda_idt |G_A(B) - B|
///     (reported weighted, as junyanz reports them);
///   phase D (updates D_A and D_B): D_A = 0.5 (gan(D_A(B), real) +
///     gan(D_A(pool_B(fake_B)), fake)), D_B likewise, on the fakes made
///     before G's update, through each discriminator's image pool.
public final class CycleGANModel: TrainingModel {
    /// The architecture.
    public let config: ModelConfig
    /// The translation settings (weights of the terms, pools, blocks).
    public let settings: TranslationSettings
    /// G_A: A to B.
    public let generatorA: ResNetGenerator
    /// G_B: B to A.
    public let generatorB: ResNetGenerator
    /// D_A: judges B pictures (real, or G_A's).
    public let discriminatorA: PatchDiscriminator
    /// D_B: judges A pictures (real, or G_B's).
    public let discriminatorB: PatchDiscriminator
    /// The histories of generated A and B pictures.
    public let poolA: ImagePool
    public let poolB: ImagePool
    /// Adam's settings, of both groups.
    public var optimizer = OptimizerSettings()
    /// Both groups' learning-rate schedule.
    public var schedule = LearningRateSchedule.constant

    /// Builds the four networks and two pools for `config`, initialised from `rng`.
    public init(config: ModelConfig, rng: inout RandomGenerator) throws {
        guard config.kind == .cyclegan, let settings = config.translation else {
            throw ShapeError("a \(config.kind) config does not describe a CycleGAN model")
        }
        try config.validate()
        let (a, b) = (settings.inputChannels, config.imageChannels)
        if settings.lambdaIdentity > 0 && a != b {
            throw ShapeError("the identity terms need as many channels in A as in B (\(a) and \(b)); pass --lambda-identity 0 or --channels")
        }
        self.config = config
        self.settings = settings
        let blocks = settings.residualBlocks
        generatorA = ResNetGenerator(inputChannels: a, outputChannels: b, blocks: blocks, ngf: config.ngf, norm: settings.norm, rng: &rng)
        generatorB = ResNetGenerator(inputChannels: b, outputChannels: a, blocks: blocks, ngf: config.ngf, norm: settings.norm, rng: &rng)
        discriminatorA = PatchDiscriminator(inputChannels: b, ndf: config.ndf, norm: settings.norm, rng: &rng)
        discriminatorB = PatchDiscriminator(inputChannels: a, ndf: config.ndf, norm: settings.norm, rng: &rng)
        poolA = ImagePool(size: settings.poolSize, imageShape: config.inputShape)
        poolB = ImagePool(size: settings.poolSize, imageShape: config.imageShape)
    }

    /// junyanz's residual blocks for a size: 9 from 256 px, 6 below.
    public static func defaultBlocks(size: Int) -> Int { size >= 256 ? 9 : 6 }

    /// The four networks and the two pools (which hold pictures, not weights).
    public var networks: [Network] {
        [Network("G_A", generatorA), Network("G_B", generatorB), Network("D_A", discriminatorA), Network("D_B", discriminatorB),
         Network("pool_A", poolA), Network("pool_B", poolB)]
    }

    /// G (G_A and G_B) and D (D_A and D_B), as junyanz trains them.
    public var parameterGroups: [ParameterGroupSpec] {
        [ParameterGroupSpec(name: "G", networks: ["G_A", "G_B"], optimizer: optimizer, schedule: schedule),
         ParameterGroupSpec(name: "D", networks: ["D_A", "D_B"], optimizer: optimizer, schedule: schedule)]
    }

    /// The G phase (adversarial, cycle and identity terms), then the D phase on the pools' pictures.
    public func buildStep(_ step: StepBuilder) throws {
        let g = step.graph
        let context = step.context
        let a = try step.input("A", sampleShape: config.inputShape)
        let b = try step.input("B", sampleShape: config.imageShape)
        let planA = try step.input("pool_A", sampleShape: [2]), planB = try step.input("pool_B", sampleShape: [2])
        let fakeB = try generatorA(a, context), recA = try generatorB(fakeB, context)
        let fakeA = try generatorB(b, context), recB = try generatorA(fakeA, context)
        let loss = config.ganMode
        let s = settings
        func l1(_ x: Tensor, _ target: Tensor, weight: Float) throws -> Tensor {
            let d = try g(.loss(.l1), x, target)
            return weight == 1 ? d : try g(.scale(weight), d)
        }
        try step.phase("G", updates: "G", total: "Loss_G") { terms in
            try terms.add("G_A", try loss.generator(try discriminatorA(fakeB, context), g))
            try terms.add("G_B", try loss.generator(try discriminatorB(fakeA, context), g))
            try terms.add("cycle_A", try l1(recA, a, weight: s.lambdaA))
            try terms.add("cycle_B", try l1(recB, b, weight: s.lambdaB))
            if s.lambdaIdentity > 0 {
                try terms.add("idt_A", try l1(try generatorA(b, context), b, weight: s.lambdaB * s.lambdaIdentity))
                try terms.add("idt_B", try l1(try generatorB(a, context), a, weight: s.lambdaA * s.lambdaIdentity))
            }
        }
        try step.phase("D", updates: "D", total: "Loss_D") { terms in
            func judge(_ d: PatchDiscriminator, real: Tensor, fake: Tensor, pool: ImagePool, plan: Tensor) throws -> Tensor {
                let realLoss = try loss.discriminator(try d(real, context), real: true, g)
                let pooled = try g.apply(ImagePoolOp(), [fake, g.parameter(pool.images), plan])[0]
                let fakeLoss = try loss.discriminator(try d(pooled, context), real: false, g)
                return try g(.scale(0.5), try g(.add, realLoss, fakeLoss))
            }
            try terms.add("D_A", try judge(discriminatorA, real: b, fake: fakeB, pool: poolB, plan: planB))
            try terms.add("D_B", try judge(discriminatorB, real: a, fake: fakeA, pool: poolA, plan: planA))
        }
    }

    /// A step's inputs: pictures of A and B in [-1, 1], and the pools' plans
    /// (B's drawn first, as junyanz queries pool_B first).
    public func feed(a: [Float], b: [Float], random: inout RandomGenerator) throws -> (batch: Int, feed: [String: [Float]]) {
        let perA = config.inputShape.reduce(1, *), perB = config.imageShape.reduce(1, *)
        let batch = a.count / perA
        guard batch > 0, a.count == batch * perA, b.count == batch * perB else {
            throw ShapeError("a CycleGAN batch holds pictures of \(config.inputShape) (A) and \(config.imageShape) (B); got \(a.count) and \(b.count) values")
        }
        let planB = poolB.plan.draw(batch, random: &random)
        let planA = poolA.plan.draw(batch, random: &random)
        return (batch, ["A": a, "B": b, "pool_A": planA, "pool_B": planB])
    }

    /// How full each pool is, for an exact resume.
    public func extraState() -> [String: [Float]] {
        ["pool_A.count": [Float(poolA.plan.count)], "pool_B.count": [Float(poolB.plan.count)]]
    }

    /// Restores how full each pool is.
    public func restoreExtraState(_ state: [String: [Float]]) throws {
        for (name, pool) in [("pool_A", poolA), ("pool_B", poolB)] {
            guard let v = state["\(name).count"], v.count == 1, v[0] >= 0, Int(v[0]) <= pool.plan.size else {
                throw CheckpointError("the checkpoint's \(name) count is missing or out of range: it was written for another model")
            }
            pool.plan = ImagePoolPlan(size: pool.plan.size, count: Int(v[0]))
        }
        if let other = state.keys.sorted().first(where: { !$0.hasPrefix("pool_A.") && !$0.hasPrefix("pool_B.") }) {
            throw CheckpointError("the checkpoint holds state \(other) that CycleGAN does not keep: it was written for another model")
        }
    }
}

/// A discriminator's history of generated pictures: the pictures on the
/// device (a non-trainable parameter, so checkpoints carry them) and, on the
/// host, how full it is.
public final class ImagePool: Module {
    /// The pictures held, [size, C, H, W].
    public let images: Parameter
    /// How full it is and which picture each query swaps.
    public var plan: ImagePoolPlan

    /// A pool of `size` pictures of `imageShape`.
    public init(size: Int, imageShape: [Int]) {
        let shape = Shape([max(size, 1)] + imageShape)
        images = Parameter(name: "images", shape: shape, trainable: false, initial: [Float](repeating: 0, count: shape.count))
        plan = ImagePoolPlan(size: size)
    }
}
