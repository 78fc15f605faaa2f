import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

/// gan, dcgan and cdcgan: pictures (Fashion-MNIST's IDX files or a folder)
/// and noise; the sheet shows G's images from fixed noise.
final class GANTask: RunTask {
    let gan: GANModel
    let dataset: ImageDataset
    let preprocessing: ImagePreprocessing
    let sampler: GANSampler
    let notes: [String]
    var model: TrainingModel { gan }
    var config: ModelConfig { gan.config }
    var count: Int { dataset.count }
    var source: String { dataset.source }

    init(options: TrainingOptions, restored: ModelConfig?, backend: Backend, rng: inout RandomGenerator, log: (String) -> Void) throws {
        let fm = FileManager.default
        // A resumed run's model decides the size and channels.
        var preprocessing = options.preprocessing
        if let model = restored {
            preprocessing.size = model.imageSize
            preprocessing.loadSize = max(preprocessing.loadSize, model.imageSize)
            preprocessing.channels = model.imageChannels
        }
        try preprocessing.validate()
        var dataset: ImageDataset
        var skipped: [String] = []
        if let root = options.dataroot, !fm.fileExists(atPath: (root as NSString).appendingPathComponent("train-images-idx3-ubyte.gz")),
           !fm.fileExists(atPath: (root as NSString).appendingPathComponent("train-images-idx3-ubyte")) {
            log("reading the pictures of \(root)...")  // decoding thousands of photos takes a while
            let loaded = try ImageFolder.load(directory: root, preprocessing: preprocessing, skipBadImages: options.skipBadImages)
            (dataset, skipped) = (loaded.dataset, loaded.skipped)
        } else {
            dataset = try FashionMNIST.load(directory: options.dataroot ?? FashionMNIST.defaultDirectory)
        }
        if let limit = options.limitImages, limit < dataset.count {
            guard limit >= 1 else { throw DatasetError("--limit-images must be at least 1") }
            dataset = dataset.prefix(limit)
        }
        dataset = dataset.converted(side: preprocessing.loadSize, channels: preprocessing.channels ?? dataset.channels)
        var fresh = ModelConfig(kind: options.model, nz: options.nz, imageChannels: dataset.channels,
                                imageSize: preprocessing.size, classNames: dataset.classNames,
                                ngf: options.ngf, ndf: options.ndf, ganMode: options.ganMode)
        fresh.minibatchStd = options.minibatchStd
        fresh.spectralNorm = options.spectralNorm
        fresh.classLoss = options.classLoss
        let config = restored ?? fresh
        if config.imageChannels != dataset.channels || (config.isConditional && config.classes != dataset.classNames.count) {
            throw CheckpointError("the checkpoint's model expects \(config.imageChannels)-channel images and \(config.classes) classes; --dataroot gives \(dataset.channels) and \(dataset.classNames.count)")
        }
        gan = try GANModel(config: config, rng: &rng)
        try options.remedies.validate(mode: config.ganMode)
        gan.remedies = options.remedies
        self.dataset = dataset
        self.preprocessing = preprocessing
        sampler = GANSampler(model: gan, backend: backend)
        notes = skipped.map { "skipped: \($0)" }
    }

    func configure(optimizer: OptimizerSettings, schedule: LearningRateSchedule) {
        gan.optimizer = optimizer
        gan.schedule = schedule
    }

    /// How far the run is, 0 to 1, which the instance noise anneals by (the run sets it before each step).
    var progress: Float = 0

    func feed(_ indices: ArraySlice<Int>, random: inout RandomGenerator) throws -> (batch: Int, feed: [String: [Float]]) {
        let noise = random.normal(indices.count * config.nz)
        let real = dataset.batch(indices, range: config.pixelRange, size: config.imageSize, randomCrop: preprocessing.randomCrop,
                                 flip: preprocessing.flip, random: &random)
        // Drawn after the rest, so a run without it draws what it always did.
        var instanceNoise: (real: [Float], fake: [Float])?
        if gan.remedies.instanceNoise > 0 {
            let deviation = gan.remedies.instanceNoise * max(0, 1 - progress)
            instanceNoise = (random.normal(real.count, std: deviation), random.normal(real.count, std: deviation))
        }
        return try gan.feed(real: real, noise: noise, classes: config.isConditional ? indices.map { dataset.labels[$0] } : nil,
                            instanceNoise: instanceNoise)
    }

    /// 8x8 images from fixed noise, or one row of 8 per class, named.
    func sheet(seed: UInt64) throws -> PixelImage {
        let (images, classes) = try fixedSamples(seed: seed)
        let count = images.count / config.imageShape.reduce(1, *)
        if let classes {
            return try Pictures.classSheet(images, classes: classes, names: config.classNames, channels: config.imageChannels,
                                           size: config.imageSize, columns: 8, range: config.pixelRange)
        }
        return Pictures.sheet(images, count: count, channels: config.imageChannels,
                              size: config.imageSize, columns: 8, range: config.pixelRange)
    }

    /// The sheet's images (and classes): G's pictures from the fixed noise.
    func fixedSamples(seed: UInt64) throws -> (images: [Float], classes: [Int]?) {
        let (noise, classes) = Self.fixedNoise(config, seed: seed)
        return (try sampler.generate(noise: noise, classes: classes), classes)
    }

    /// `count` training pictures (the same ones every call), in the model's pixel range.
    func realPictures(count: Int) -> [Float] {
        var rng = RandomGenerator(seed: 0x2EA1_5A3B)
        let picked = rng.permutation(dataset.count).prefix(min(count, dataset.count))
        var unused = RandomGenerator(seed: 0)
        return dataset.batch(picked, range: config.pixelRange, size: config.imageSize, randomCrop: false, flip: false, random: &unused)
    }

    /// The same noise every epoch, drawn from its own generator so it does
    /// not disturb the training sequence.
    static func fixedNoise(_ config: ModelConfig, seed: UInt64) -> ([Float], [Int]?) {
        var rng = RandomGenerator(seed: seed &+ 0x5EED_F1CE_D000)
        if config.isConditional {
            let count = config.classes * 8
            return (rng.normal(count * config.nz), (0..<count).map { $0 / 8 })
        }
        return (rng.normal(64 * config.nz), nil)
    }
}
