import AtelierDevices
import AtelierGraph
/// pix2pix (Isola et al.; junyanz/pytorch-CycleGAN-and-pix2pix's defaults):
/// a U-Net G maps input A to output B, a PatchGAN D judges concat(A, B).
///   fake = G(A)
///   phase D (updates "D"): Loss_D = 0.5 D_fake + 0.5 D_real, on
///     D(concat(A, fake)) (fake a constant here) and D(concat(A, B));
///   phase G (updates "G"): Loss_G = G_GAN + G_L1 through the just-updated
///     D, G_L1 = lambda x mean |fake - B| (reported weighted, as junyanz does).
public final class Pix2PixModel: TrainingModel {
    /// The architecture.
    public let config: ModelConfig
    /// The translation settings (L1 weight, dropout, direction).
    public let settings: TranslationSettings
    /// G: the U-Net, input to output.
    public let generator: UNetGenerator
    /// D: the PatchGAN, judging input and output side by side.
    public let discriminator: PatchDiscriminator
    /// Both networks' optimizer settings and schedule.
    public var optimizer = OptimizerSettings()
    /// Both networks' learning-rate schedule.
    public var schedule = LearningRateSchedule.constant

    /// Builds G and D for `config`, initialised from `rng`.
    public init(config: ModelConfig, rng: inout RandomGenerator) throws {
        guard config.kind == .pix2pix, let settings = config.translation else {
            throw ShapeError("a \(config.kind) config does not describe a pix2pix model")
        }
        try config.validate()
        self.config = config
        self.settings = settings
        let depth = config.imageSize.trailingZeroBitCount
        generator = UNetGenerator(inputChannels: settings.inputChannels, outputChannels: config.imageChannels, depth: depth,
                                  ngf: config.ngf, norm: settings.norm, dropout: settings.dropout, rng: &rng)
        discriminator = PatchDiscriminator(inputChannels: settings.inputChannels + config.imageChannels, ndf: config.ndf,
                                           norm: settings.norm, rng: &rng)
    }

    /// `G` and `D`.
    public var networks: [Network] { [Network("G", generator), Network("D", discriminator)] }

    /// One group per network.
    public var parameterGroups: [ParameterGroupSpec] {
        [ParameterGroupSpec(name: "D", networks: ["D"], optimizer: optimizer, schedule: schedule),
         ParameterGroupSpec(name: "G", networks: ["G"], optimizer: optimizer, schedule: schedule)]
    }

    /// The D phase, then the G phase (adversarial and L1 terms), on input and target pairs fed each step.
    public func buildStep(_ step: StepBuilder) throws {
        let g = step.graph
        let context = step.context
        let a = try step.input("A", sampleShape: config.inputShape)
        let b = try step.input("B", sampleShape: config.imageShape)
        let fake = try generator(a, context)
        let loss = config.ganMode
        func judge(_ output: Tensor) throws -> Tensor {
            try discriminator(try g.apply(.concatChannels, [a, output])[0], context)
        }
        try step.phase("D", updates: "D", total: "Loss_D") { terms in
            // Fake first, as junyanz: each call has its own BatchNorm statistics.
            try terms.add("D_fake", try loss.discriminator(try judge(fake), real: false, g), weight: 0.5)
            try terms.add("D_real", try loss.discriminator(try judge(b), real: true, g), weight: 0.5)
        }
        try step.phase("G", updates: "G", total: "Loss_G") { terms in
            try terms.add("G_GAN", try loss.generator(try judge(fake), g))
            let l1 = try g(.loss(.l1), fake, b)
            try terms.add("G_L1", settings.lambdaL1 == 1 ? l1 : try g(.scale(settings.lambdaL1), l1))
        }
    }

    /// A step's inputs from a batch of pairs in [-1, 1], [N, C, S, S] flattened.
    public func feed(input: [Float], target: [Float]) throws -> (batch: Int, feed: [String: [Float]]) {
        let perInput = config.inputShape.reduce(1, *), perTarget = config.imageShape.reduce(1, *)
        let batch = input.count / perInput
        guard batch > 0, input.count == batch * perInput, target.count == batch * perTarget else {
            throw ShapeError("a pix2pix batch holds inputs of \(config.inputShape) and targets of \(config.imageShape) per pair; got \(input.count) and \(target.count) values")
        }
        return (batch, ["A": input, "B": target])
    }
}

/// Outputs of an image-to-image generator, as pix2pix makes them at test
/// time: dropout on (fixed masks, so a picture always gives the same
/// result) and BatchNorm on the statistics of the image itself, one image
/// per pass (a batch would mix its images' statistics). The running
/// statistics are left alone.
public final class Translator {
    /// The generator it runs.
    public let generator: Module
    /// [C, S, S] of its inputs.
    public let inputShape: [Int]
    /// [C, S, S] of its outputs.
    public let outputShape: [Int]
    /// The device its parameters are on.
    public let backend: Backend
    private var plan: (plan: Plan, input: Tensor, output: Tensor, seed: Tensor?)?

    /// The generator's parameters must be on `backend` (a Trainer or
    /// Checkpoint.restoreWeights puts them there).
    public init(generator: Module, inputShape: [Int], outputShape: [Int], backend: Backend) {
        self.generator = generator
        self.inputShape = inputShape
        self.outputShape = outputShape
        self.backend = backend
    }

    /// A translator running pix2pix's generator.
    public convenience init(_ model: Pix2PixModel, backend: Backend) {
        self.init(generator: model.generator, inputShape: model.config.inputShape, outputShape: model.config.imageShape, backend: backend)
    }

    /// Outputs for images [N, C, S, S] in [-1, 1], flattened.
    public func translate(_ images: [Float]) throws -> [Float] {
        let per = inputShape.reduce(1, *)
        guard !images.isEmpty, images.count % per == 0 else { throw ShapeError("translate takes whole \(inputShape) images") }
        if plan == nil {
            let g = Graph()
            let x = g.input("A", Shape([1] + inputShape))
            let y = try generator(x, ForwardContext(graph: g, training: true, updatesRunningStatistics: false))
            plan = (try Plan(g, on: backend, keep: [y]), x, y, g.seedInput)
        }
        let p = plan!
        var out: [Float] = []
        out.reserveCapacity(images.count / per * outputShape.reduce(1, *))
        for n in 0..<(images.count / per) {
            if let seed = p.seed { try p.plan.write(DropoutOp.seedValues(0), to: seed) }
            try p.plan.write(Array(images[n * per..<(n + 1) * per]), to: p.input)
            try p.plan.run()
            out += try p.plan.read(p.output)
        }
        return out
    }
}
