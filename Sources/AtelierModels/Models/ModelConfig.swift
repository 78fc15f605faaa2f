import AtelierDevices
import AtelierGraph
/// The models `atelier train --model` offers.
public enum ModelKind: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    /// The reference article's GAN: MLP generator, small conv discriminator.
    case gan
    /// DCGAN for 28x28 gray images.
    case dcgan
    /// DCGAN conditioned on the class.
    case cdcgan
    /// Paired image-to-image translation (sketch -> garment): U-Net
    /// generator, PatchGAN discriminator, GAN + L1 loss.
    case pix2pix
    /// Unpaired image-to-image translation both ways (one fabric or
    /// collection -> another): two ResNet generators, two PatchGANs, LSGAN +
    /// cycle + identity losses, image pools.
    case cyclegan

    /// The name `--model` takes.
    public var description: String { rawValue }

    /// Whether it maps images to images (no noise input, no classes).
    public var isTranslation: Bool { self == .pix2pix || self == .cyclegan }
}

/// Everything needed to rebuild a model: saved in every checkpoint, so a
/// model loads without repeating the options it was trained with.
public struct ModelConfig: Codable, Sendable, Equatable {
    /// Which model.
    public var kind: ModelKind
    /// Length of the noise vector z.
    public var nz: Int
    /// Channels of the generated (translated) images: 1 or 3.
    public var imageChannels: Int
    /// The image side the networks are built for.
    public var imageSize: Int
    /// Class names of a conditional model (empty otherwise).
    public var classNames: [String]
    /// Width of the generator's last hidden layer and of the
    /// discriminator's first (pytorch/examples' --ngf and --ndf); the other
    /// layers double it per step away from the image.
    public var ngf: Int
    /// The discriminator's width (its first layer's channels).
    public var ndf: Int
    /// The adversarial loss it is trained with.
    public var ganMode: GANLoss
    /// An image-to-image model's input channels, norm, loss weights and
    /// direction (nil for the GANs); `imageChannels` are its outputs'.
    public var translation: TranslationSettings?
    /// gan and the 28 px dcgan and cdcgan: D's flattened features get the
    /// minibatch standard deviation as one more (MinibatchStdOp).
    public var minibatchStd = false
    /// The GANs: D's Conv2D and Dense weights are spectrally normalised
    /// (`Module.normalizeSpectrally`), with their power-iteration vectors.
    public var spectralNorm = false
    /// cdcgan: the weight of the auxiliary class loss (AC-GAN, Odena et
    /// al. 2017); 0 leaves it off. With it, D is not given the class: it
    /// names it, with k more outputs beside its verdict, learning from the
    /// real pictures' labels, and G is trained to draw what D names as the
    /// class asked for.
    public var classLoss: Float = 0
    /// Whether D has the auxiliary classifier (and takes no class planes).
    public var auxiliaryClassifier: Bool { classLoss > 0 }
    /// D's class planes: a conditional model's classes, unless D names them itself.
    public var discriminatorClassPlanes: Int { auxiliaryClassifier ? 0 : classes }
    /// D's outputs: its verdict, and the classes' logits with the auxiliary classifier.
    public var discriminatorOutputs: Int { 1 + (auxiliaryClassifier ? classes : 0) }

    /// An architecture; `classNames` only counts for cdcgan.
    public init(kind: ModelKind, nz: Int = 100, imageChannels: Int = 1, imageSize: Int = 28, classNames: [String] = [],
                ngf: Int = 64, ndf: Int = 64, ganMode: GANLoss = .vanilla, translation: TranslationSettings? = nil) {
        self.kind = kind
        self.nz = nz
        self.imageChannels = imageChannels
        self.imageSize = imageSize
        self.classNames = kind == .cdcgan ? classNames : []
        self.ngf = ngf
        self.ndf = ndf
        self.ganMode = ganMode
        self.translation = kind.isTranslation ? translation ?? TranslationSettings(inputChannels: imageChannels) : nil
    }

    private enum CodingKeys: String, CodingKey { case kind, nz, imageChannels, imageSize, classNames, ngf, ndf, ganMode, translation, minibatchStd, spectralNorm, classLoss }

    /// Checkpoints written before the widths and losses were options hold no
    /// ngf, ndf or ganMode: theirs were 64, 64 and vanilla.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(kind: try c.decode(ModelKind.self, forKey: .kind), nz: try c.decode(Int.self, forKey: .nz),
                  imageChannels: try c.decode(Int.self, forKey: .imageChannels), imageSize: try c.decode(Int.self, forKey: .imageSize),
                  classNames: try c.decode([String].self, forKey: .classNames),
                  ngf: try c.decodeIfPresent(Int.self, forKey: .ngf) ?? 64, ndf: try c.decodeIfPresent(Int.self, forKey: .ndf) ?? 64,
                  ganMode: try c.decodeIfPresent(GANLoss.self, forKey: .ganMode) ?? .vanilla,
                  translation: try c.decodeIfPresent(TranslationSettings.self, forKey: .translation))
        minibatchStd = try c.decodeIfPresent(Bool.self, forKey: .minibatchStd) ?? false
        spectralNorm = try c.decodeIfPresent(Bool.self, forKey: .spectralNorm) ?? false
        classLoss = try c.decodeIfPresent(Float.self, forKey: .classLoss) ?? 0
    }

    /// Whether the model is conditioned on a class (cdcgan).
    public var isConditional: Bool { kind == .cdcgan }
    /// The number of classes of a conditional model (0 otherwise).
    public var classes: Int { classNames.count }
    /// [channels, side, side] of the images it makes.
    public var imageShape: [Int] { [imageChannels, imageSize, imageSize] }
    /// Pixel range of the generator's output and of the training images.
    public var pixelRange: ClosedRange<Float> { kind == .gan ? 0...1 : -1...1 }
    /// An image-to-image model's input shape [C, S, S].
    public var inputShape: [Int] { [translation?.inputChannels ?? imageChannels, imageSize, imageSize] }

    /// The image sizes each model is built for.
    public static func supportedSizes(_ kind: ModelKind) -> [Int] {
        switch kind {
        case .gan: [28, 32, 64]
        case .dcgan, .cdcgan: [28, 32, 64, 128, 256]
        // The U-Net halves the image down to 1x1 at least five times.
        case .pix2pix, .cyclegan: [32, 64, 128, 256, 512]
        }
    }

    /// Refuses an architecture Atelier cannot build (a size, channel count or width
    /// out of range), naming what to change.
    public func validate() throws {
        guard nz > 0 || kind.isTranslation else { throw ShapeError("--nz must be positive") }
        if let translation { try translation.validate() }
        let sizes = Self.supportedSizes(kind)
        guard sizes.contains(imageSize) else {
            throw ShapeError("the \(kind) model is built for images of \(sizes.map(String.init).joined(separator: ", ")) pixels, not \(imageSize); pass one of them as --image-size (pictures are resized to it)")
        }
        guard imageChannels == 1 || imageChannels == 3 else {
            throw ShapeError("images have 1 (gray) or 3 (RGB) channels, not \(imageChannels)")
        }
        guard (1...1024).contains(ngf), (1...1024).contains(ndf) else {
            throw ShapeError("--ngf and --ndf must lie in 1...1024 (pytorch/examples use 64)")
        }
        if minibatchStd && !(kind == .gan || ([.dcgan, .cdcgan].contains(kind) && imageSize == 28)) {
            throw ShapeError("--minibatch-std (and --stable, which turns it on) is built for gan and for dcgan and cdcgan at 28 px, whose D flattens before its last layer; the \(imageSize) px DCGAN has no such place")
        }
        if spectralNorm && kind.isTranslation {
            throw ShapeError("--spectral-norm is built for the discriminators of gan, dcgan and cdcgan")
        }
        guard classLoss.isFinite && classLoss >= 0 else { throw ShapeError("--class-loss must be a weight of 0 or more, not \(classLoss)") }
        if classLoss > 0 && !isConditional {
            throw ShapeError("--class-loss trains D to name the class of each picture; only cdcgan has classes")
        }
        if isConditional && classes < 2 {
            throw ShapeError("cdcgan needs a labelled dataset with at least two classes")
        }
    }
}

