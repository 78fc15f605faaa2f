/// The models `atelier train --model` offers.
public enum ModelKind: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    /// The reference article's GAN: MLP generator, small conv discriminator.
    case gan
    /// DCGAN for 28x28 gray images.
    case dcgan
    /// DCGAN conditioned on the class.
    case cdcgan

    public var description: String { rawValue }
}

/// Everything needed to rebuild a model: saved in every checkpoint, so a
/// model loads without repeating the options it was trained with.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var kind: ModelKind
    /// Length of the noise vector z.
    public var nz: Int
    public var imageChannels: Int
    public var imageSize: Int
    /// Class names of a conditional model (empty otherwise).
    public var classNames: [String]

    public init(kind: ModelKind, nz: Int = 100, imageChannels: Int = 1, imageSize: Int = 28, classNames: [String] = []) {
        self.kind = kind
        self.nz = nz
        self.imageChannels = imageChannels
        self.imageSize = imageSize
        self.classNames = kind == .cdcgan ? classNames : []
    }

    public var isConditional: Bool { kind == .cdcgan }
    public var classes: Int { classNames.count }
    public var imageShape: [Int] { [imageChannels, imageSize, imageSize] }
    /// Pixel range of the generator's output and of the training images.
    public var pixelRange: ClosedRange<Float> { kind == .gan ? 0...1 : -1...1 }

    func validate() throws {
        guard nz > 0 else { throw ShapeError("--nz must be positive") }
        guard imageSize == 28 else {
            throw ShapeError("the \(kind) model is built for 28x28 images; images are resized to 28x28 when loaded")
        }
        if isConditional && classes < 2 {
            throw ShapeError("cdcgan needs a labelled dataset with at least two classes")
        }
    }
}

/// A generator and a discriminator (which returns logits).
public final class GANModel {
    public let config: ModelConfig
    public let generator: Module
    public let discriminator: Module

    public init(config: ModelConfig, rng: inout RandomGenerator) throws {
        try config.validate()
        self.config = config
        let c = config.imageChannels, nz = config.nz, k = config.classes
        switch config.kind {
        case .gan:
            // Keras defaults, as the article: Glorot-uniform weights, zero biases.
            let glorot = Initializer.glorotUniform
            generator = Sequential([
                Dense(nz, 256, initializer: glorot, rng: &rng), ActivationLayer(.relu),
                Dense(256, 512, initializer: glorot, rng: &rng), ActivationLayer(.relu),
                Dense(512, 1024, initializer: glorot, rng: &rng), ActivationLayer(.relu),
                Dense(1024, c * 28 * 28, initializer: glorot, rng: &rng), ActivationLayer(.sigmoid),
                Reshape([c, 28, 28]),
            ])
            discriminator = Sequential([
                Conv2D(c, 32, kernel: 3, stride: 2, initializer: glorot, rng: &rng), ActivationLayer(.relu),
                Conv2D(32, 64, kernel: 3, stride: 2, initializer: glorot, rng: &rng), ActivationLayer(.relu),
                Reshape.flatten,
                Dense(64 * 6 * 6, 1024, initializer: glorot, rng: &rng), ActivationLayer(.relu),
                Dense(1024, 1, initializer: glorot, rng: &rng),
            ])
        case .dcgan, .cdcgan:
            let normal = Initializer.normal(std: 0.02)
            // The conditional model takes the one-hot class beside z in G, and
            // as k constant planes beside the image in D.
            let gIn = nz + k, dIn = c + k
            generator = Sequential([
                Dense(gIn, 128 * 7 * 7, bias: false, initializer: normal, rng: &rng),
                BatchNorm(128 * 7 * 7), ActivationLayer(.relu),
                Reshape([128, 7, 7]),
                ConvTranspose2D(128, 64, kernel: 4, stride: 2, padding: 1, bias: false, initializer: normal, rng: &rng),
                BatchNorm(64), ActivationLayer(.relu),
                ConvTranspose2D(64, c, kernel: 4, stride: 2, padding: 1, initializer: normal, rng: &rng),
                ActivationLayer(.tanh),
            ])
            discriminator = Sequential([
                Conv2D(dIn, 64, kernel: 4, stride: 2, padding: 1, initializer: normal, rng: &rng),
                ActivationLayer(.leakyRelu(slope: 0.2)),
                Conv2D(64, 128, kernel: 4, stride: 2, padding: 1, bias: false, initializer: normal, rng: &rng),
                BatchNorm(128), ActivationLayer(.leakyRelu(slope: 0.2)),
                Reshape.flatten,
                Dense(128 * 7 * 7, 1, initializer: normal, rng: &rng),
            ])
        }
    }

    /// Images [N, C, 28, 28] from z [N, nz] (and one-hot classes [N, k]).
    public func generate(_ z: Tensor, classes: Tensor?, _ context: ForwardContext) throws -> Tensor {
        try generator(try conditioned(z, on: classes, context), context)
    }

    /// Logits [N, 1] for images (with class planes [N, k, 28, 28]).
    public func discriminate(_ images: Tensor, classPlanes: Tensor?, _ context: ForwardContext) throws -> Tensor {
        try discriminator(try conditioned(images, on: classPlanes, context), context)
    }

    /// A conditional model's input: `x` with the class joined along axis 1.
    private func conditioned(_ x: Tensor, on classes: Tensor?, _ context: ForwardContext) throws -> Tensor {
        guard config.isConditional else { return x }
        guard let classes else { throw ShapeError("cdcgan needs the class of every sample") }
        return try context.graph.apply(.concatChannels, [x, classes])[0]
    }

    /// Every parameter, named "generator.…" and "discriminator.…".
    public var namedParameters: [(name: String, parameter: Parameter)] {
        generator.namedParameters(prefix: "generator") + discriminator.namedParameters(prefix: "discriminator")
    }
}
