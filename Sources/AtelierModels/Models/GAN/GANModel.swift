import AtelierDevices
import AtelierGraph
/// A generator and a discriminator (which returns logits), and how they
/// train: see GANModel+Training.swift.
public final class GANModel {
    /// The architecture.
    public let config: ModelConfig
    /// G: noise (and a one-hot class) to images in `config.pixelRange`.
    public let generator: Module
    /// D: images (and class planes) to a logit each.
    public let discriminator: Module
    /// Both networks' optimizer settings and schedule.
    public var optimizer = OptimizerSettings()
    /// Both networks' learning-rate schedule.
    public var schedule = LearningRateSchedule.constant
    /// Label smoothing, instance noise and D's own learning rate (none by default).
    public var remedies = GANRemedies()

    /// Builds both networks for `config`, initialised from `rng`.
    public init(config: ModelConfig, rng: inout RandomGenerator) throws {
        try config.validate()
        self.config = config
        let networks: (Module, Module)
        switch config.kind {
        case .gan: networks = GANNetworks.article(config, rng: &rng)
        case .dcgan, .cdcgan:
            networks = config.imageSize == 28 ? GANNetworks.dcgan28(config, rng: &rng) : GANNetworks.dcgan(config, rng: &rng)
        case .pix2pix, .cyclegan:
            throw ShapeError("\(config.kind) is an image-to-image model, not a GAN from noise; build it as Pix2PixModel")
        }
        (generator, discriminator) = networks
        if config.spectralNorm { discriminator.normalizeSpectrally() }
    }

    /// Images [N, C, S, S] from z [N, nz] (and one-hot classes [N, k]).
    public func generate(_ z: Tensor, classes: Tensor?, _ context: ForwardContext) throws -> Tensor {
        try generator(try conditioned(z, on: classes, context), context)
    }

    /// Logits [N, 1] for images (with class planes [N, k, S, S]); with the
    /// auxiliary classifier, [N, 1 + k]: the verdict, then the classes'
    /// logits (`verdictAndClasses` splits them), and no class planes.
    public func discriminate(_ images: Tensor, classPlanes: Tensor?, _ context: ForwardContext) throws -> Tensor {
        try discriminator(config.auxiliaryClassifier ? images : try conditioned(images, on: classPlanes, context), context)
    }

    /// D's verdict [N, 1]: its whole output, or the first column with the auxiliary classifier.
    public func verdict(_ scores: Tensor, _ g: Graph) throws -> Tensor {
        config.auxiliaryClassifier ? try g(.sliceChannels(start: 0, count: 1), scores) : scores
    }

    /// D's output as its verdict [N, 1] and, with the auxiliary classifier, the classes' logits [N, k].
    public func verdictAndClasses(_ scores: Tensor, _ g: Graph) throws -> (verdict: Tensor, classes: Tensor?) {
        guard config.auxiliaryClassifier else { return (scores, nil) }
        return (try verdict(scores, g), try g(.sliceChannels(start: 1, count: config.classes), scores))
    }

    /// A conditional model's input: `x` with the class joined along axis 1.
    private func conditioned(_ x: Tensor, on classes: Tensor?, _ context: ForwardContext) throws -> Tensor {
        guard config.isConditional else { return x }
        guard let classes else { throw ShapeError("cdcgan needs the class of every sample") }
        return try context.graph.apply(.concatChannels, [x, classes])[0]
    }

}
