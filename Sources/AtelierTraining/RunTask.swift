import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

/// What a training run trains and how its data feeds it: a GAN from noise
/// and pictures, or pix2pix from pairs. `TrainingRun` owns the loop, the
/// files and resume; a task owns the model, its batches and its sheet.
protocol RunTask: AnyObject {
    var model: TrainingModel { get }
    var config: ModelConfig { get }
    /// Training samples (pictures or pairs) per epoch.
    var count: Int { get }
    var source: String { get }
    /// Notes for the log (skipped pictures, where the sheet's pictures come from).
    var notes: [String] { get }
    /// One step's inputs for the samples `indices`, drawing what is random
    /// (noise, crops, flips) from `random`.
    func feed(_ indices: ArraySlice<Int>, random: inout RandomGenerator) throws -> (batch: Int, feed: [String: [Float]])
    /// The sheet written after each epoch (the same inputs every time).
    func sheet(seed: UInt64) throws -> PixelImage
    /// Every group's optimizer settings and learning-rate schedule.
    func configure(optimizer: OptimizerSettings, schedule: LearningRateSchedule)
}

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
        let config = restored ?? ModelConfig(kind: options.model, nz: options.nz, imageChannels: dataset.channels,
                                             imageSize: preprocessing.size, classNames: dataset.classNames,
                                             ngf: options.ngf, ndf: options.ndf, ganMode: options.ganMode)
        if config.imageChannels != dataset.channels || (config.isConditional && config.classes != dataset.classNames.count) {
            throw CheckpointError("the checkpoint's model expects \(config.imageChannels)-channel images and \(config.classes) classes; --dataroot gives \(dataset.channels) and \(dataset.classNames.count)")
        }
        gan = try GANModel(config: config, rng: &rng)
        self.dataset = dataset
        self.preprocessing = preprocessing
        sampler = GANSampler(model: gan, backend: backend)
        notes = skipped.map { "skipped: \($0)" }
    }

    func configure(optimizer: OptimizerSettings, schedule: LearningRateSchedule) {
        gan.optimizer = optimizer
        gan.schedule = schedule
    }

    func feed(_ indices: ArraySlice<Int>, random: inout RandomGenerator) throws -> (batch: Int, feed: [String: [Float]]) {
        let noise = random.normal(indices.count * config.nz)
        let real = dataset.batch(indices, range: config.pixelRange, size: config.imageSize, randomCrop: preprocessing.randomCrop,
                                 flip: preprocessing.flip, random: &random)
        return try gan.feed(real: real, noise: noise, classes: config.isConditional ? indices.map { dataset.labels[$0] } : nil)
    }

    /// 8x8 images from fixed noise, or one row of 8 per class.
    func sheet(seed: UInt64) throws -> PixelImage {
        let (noise, classes) = Self.fixedNoise(config, seed: seed)
        let images = try sampler.generate(noise: noise, classes: classes)
        return Pictures.sheet(images, count: noise.count / config.nz, channels: config.imageChannels,
                              size: config.imageSize, columns: 8, range: config.pixelRange)
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

/// pix2pix: pairs from an aligned or parallel folder, jittered (resized to
/// the load size, cropped at random, flipped) alike; the sheet shows rows
/// of input | output | target (two to a row) for the first validation pairs (val/, else
/// test/, else train/).
final class Pix2PixTask: RunTask {
    let pix2pix: Pix2PixModel
    let pairs: PairedImages
    let validation: PairedImages
    let preprocessing: ImagePreprocessing
    let translator: Translator
    let notes: [String]
    var model: TrainingModel { pix2pix }
    var config: ModelConfig { pix2pix.config }
    var count: Int { pairs.count }
    var source: String { pairs.pairs.source }
    /// Pairs on a validation sheet.
    static let sheetPairs = 8

    init(options: TrainingOptions, restored: ModelConfig?, backend: Backend, rng: inout RandomGenerator, log: (String) -> Void) throws {
        guard let root = options.dataroot else {
            throw DatasetError("pix2pix trains on pairs: pass --dataroot DIR (junyanz's aligned layout, train/ of A|B pictures, or A/ and B/ folders); `atelier datasets edges2fashion --out DIR` makes a set from Fashion-MNIST")
        }
        let direction = restored?.translation?.direction ?? options.direction
        let size = try restored?.imageSize ?? options.imageSize ?? PairedFolder.defaultSize(root)
        guard ModelConfig.supportedSizes(.pix2pix).contains(size) else {
            throw DatasetError("--image-size \(size): pix2pix is built for \(ModelConfig.supportedSizes(.pix2pix).map(String.init).joined(separator: ", ")) pixels")
        }
        var preprocessing = options.pairPreprocessing(size: size)
        try preprocessing.validate()
        let channels = (input: restored?.translation?.inputChannels ?? options.channels, target: restored?.imageChannels ?? options.channels)
        log("reading the pairs of \(root)...")
        let pairs = try PairedFolder.load(root, split: "train", reversed: direction == .BtoA, loadSize: preprocessing.loadSize,
                                          exact: options.preprocess == "none", channels: channels, skipBadImages: options.skipBadImages,
                                          limit: options.limitImages)
        let splits = PairedFolder.splits(root)
        let validationSplit = splits.contains("val") ? "val" : splits.contains("test") ? "test" : "train"
        validation = try PairedFolder.load(root, split: validationSplit, reversed: direction == .BtoA, loadSize: size, exact: false,
                                           channels: (pairs.inputChannels, pairs.targetChannels), skipBadImages: true, limit: Self.sheetPairs)
        preprocessing.channels = pairs.targetChannels
        let settings = restored?.translation ?? TranslationSettings(inputChannels: pairs.inputChannels, norm: options.norm,
                                                                    lambdaL1: options.lambdaL1, dropout: options.dropout, direction: direction)
        let config = restored ?? ModelConfig(kind: .pix2pix, imageChannels: pairs.targetChannels, imageSize: size,
                                             ngf: options.ngf, ndf: options.ndf, ganMode: options.ganMode, translation: settings)
        if config.inputShape[0] != pairs.inputChannels || config.imageChannels != pairs.targetChannels {
            throw CheckpointError("the checkpoint's model maps \(config.inputShape[0])-channel pictures to \(config.imageChannels)-channel ones; --dataroot gives \(pairs.inputChannels) and \(pairs.targetChannels)")
        }
        pix2pix = try Pix2PixModel(config: config, rng: &rng)
        self.pairs = pairs
        self.preprocessing = preprocessing
        translator = Translator(pix2pix, backend: backend)
        notes = pairs.skipped.map { "skipped: \($0)" }
            + ["validation sheets: input | output | target of the first \(validation.count) pairs of \(root)/\(validationSplit) (\(direction))"]
    }

    func configure(optimizer: OptimizerSettings, schedule: LearningRateSchedule) {
        pix2pix.optimizer = optimizer
        pix2pix.schedule = schedule
    }

    func feed(_ indices: ArraySlice<Int>, random: inout RandomGenerator) throws -> (batch: Int, feed: [String: [Float]]) {
        let (input, target) = pairs.batch(indices, size: config.imageSize, randomCrop: preprocessing.randomCrop, flip: preprocessing.flip,
                                          random: &random)
        return try pix2pix.feed(input: input, target: target)
    }

    func sheet(seed: UInt64) throws -> PixelImage {
        var unused = RandomGenerator(seed: 0)
        let (input, target) = validation.batch(Array(0..<validation.count)[...], size: config.imageSize, randomCrop: false, flip: false, random: &unused)
        let output = try translator.translate(input)
        return Pictures.triplets([input, output, target], channels: [config.inputShape[0], config.imageChannels, config.imageChannels],
                                 count: validation.count, size: config.imageSize, range: config.pixelRange, perRow: 2)
    }
}

/// CycleGAN: two folders of unpaired pictures (junyanz's trainA/ and
/// trainB/), each jittered and flipped on its own; an epoch walks the larger
/// domain's length, A in a shuffled order and B drawn at random (in order
/// with --serial-batches). The sheet shows rows of real A | fake B | rec A |
/// real B | fake A | rec B for the first test pictures (testA/, testB/, else
/// the training ones).
final class CycleGANTask: RunTask {
    let cyclegan: CycleGANModel
    let domainA: ImageDataset
    let domainB: ImageDataset
    let sheetA: ImageDataset
    let sheetB: ImageDataset
    let preprocessing: ImagePreprocessing
    let serialBatches: Bool
    let forward: Translator
    let backward: Translator
    let notes: [String]
    var model: TrainingModel { cyclegan }
    var config: ModelConfig { cyclegan.config }
    var count: Int { max(domainA.count, domainB.count) }
    var source: String { "\(domainA.source) and \(domainB.source)" }
    static let sheetRows = 4

    init(options: TrainingOptions, restored: ModelConfig?, backend: Backend, rng: inout RandomGenerator, log: (String) -> Void) throws {
        guard let root = options.dataroot else {
            throw DatasetError("cyclegan trains on two folders of pictures: pass --dataroot DIR holding trainA/ and trainB/ (junyanz's layout); `atelier datasets fabrics --pattern NAME --out DIR` makes a set from Fashion-MNIST and GIMP's textures")
        }
        let folder = { (name: String) in (root as NSString).appendingPathComponent(name) }
        var isDirectory: ObjCBool = false
        for name in ["trainA", "trainB"] where !(FileManager.default.fileExists(atPath: folder(name), isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw DatasetError("\(root) has no \(name)/ folder: unpaired data comes as junyanz's layout (trainA/, trainB/, and testA/, testB/ for the sheets); `atelier datasets fabrics --pattern NAME --out DIR` writes an example")
        }
        let size = try restored?.imageSize ?? options.imageSize ?? Self.defaultSize(folder("trainA"))
        guard ModelConfig.supportedSizes(.cyclegan).contains(size) else {
            throw DatasetError("--image-size \(size): cyclegan is built for \(ModelConfig.supportedSizes(.cyclegan).map(String.init).joined(separator: ", ")) pixels")
        }
        var preprocessing = options.pairPreprocessing(size: size)
        try preprocessing.validate()
        log("reading the pictures of \(folder("trainA")) and \(folder("trainB"))...")
        func load(_ name: String, channels: Int?, side: Int, limit: Int?) throws -> (ImageDataset, [String]) {
            var p = preprocessing
            p.loadSize = side
            p.channels = channels
            let loaded = try ImageFolder.load(directory: folder(name), preprocessing: p, skipBadImages: options.skipBadImages || limit != nil,
                                              limit: limit)
            return (loaded.dataset, loaded.skipped)
        }
        let channelsA = restored?.translation?.inputChannels ?? options.channels, channelsB = restored?.imageChannels ?? options.channels
        let (a, skippedA) = try load("trainA", channels: channelsA, side: preprocessing.loadSize, limit: options.limitImages)
        let (b, skippedB) = try load("trainB", channels: channelsB, side: preprocessing.loadSize, limit: options.limitImages)
        let testA = FileManager.default.fileExists(atPath: folder("testA")) ? "testA" : "trainA"
        let testB = FileManager.default.fileExists(atPath: folder("testB")) ? "testB" : "trainB"
        sheetA = try load(testA, channels: a.channels, side: size, limit: Self.sheetRows).0
        sheetB = try load(testB, channels: b.channels, side: size, limit: Self.sheetRows).0
        let settings = restored?.translation ?? TranslationSettings(
            inputChannels: a.channels, norm: options.norm, lambdaA: options.lambdaA, lambdaB: options.lambdaB,
            lambdaIdentity: options.lambdaIdentity, poolSize: options.poolSize,
            residualBlocks: options.residualBlocks ?? CycleGANModel.defaultBlocks(size: size))
        let config = restored ?? ModelConfig(kind: .cyclegan, imageChannels: b.channels, imageSize: size, ngf: options.ngf, ndf: options.ndf,
                                             ganMode: options.ganMode, translation: settings)
        if config.inputShape[0] != a.channels || config.imageChannels != b.channels {
            throw CheckpointError("the checkpoint's model maps \(config.inputShape[0])-channel A pictures and \(config.imageChannels)-channel B pictures; --dataroot gives \(a.channels) and \(b.channels)")
        }
        cyclegan = try CycleGANModel(config: config, rng: &rng)
        (domainA, domainB) = (a, b)
        preprocessing.channels = nil
        self.preprocessing = preprocessing
        serialBatches = options.serialBatches
        forward = Translator(generator: cyclegan.generatorA, inputShape: config.inputShape, outputShape: config.imageShape, backend: backend)
        backward = Translator(generator: cyclegan.generatorB, inputShape: config.imageShape, outputShape: config.inputShape, backend: backend)
        notes = (skippedA + skippedB).map { "skipped: \($0)" }
            + ["sheets: real A | fake B | rec A | real B | fake A | rec B of the first \(min(sheetA.count, sheetB.count)) pictures of \(root)/\(testA) and \(testB)"]
    }

    /// The side of the first picture when it is a size CycleGAN is built for, else 256.
    static func defaultSize(_ directory: String) throws -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory).sorted()) ?? []
        guard let first = names.first(where: { ImageFile.extensions.contains(($0 as NSString).pathExtension.lowercased()) }),
              let picture = try? ImageFile.read((directory as NSString).appendingPathComponent(first)) else { return 256 }
        let side = min(picture.width, picture.height)
        return ModelConfig.supportedSizes(.cyclegan).contains(side) ? side : 256
    }

    func configure(optimizer: OptimizerSettings, schedule: LearningRateSchedule) {
        cyclegan.optimizer = optimizer
        cyclegan.schedule = schedule
    }

    func feed(_ indices: ArraySlice<Int>, random: inout RandomGenerator) throws -> (batch: Int, feed: [String: [Float]]) {
        let a = indices.map { $0 % domainA.count }
        let b = indices.map { serialBatches ? $0 % domainB.count : Int(random.next() % UInt64(domainB.count)) }
        let s = config.imageSize
        let pictureA = domainA.batch(a[...], range: -1...1, size: s, randomCrop: preprocessing.randomCrop, flip: preprocessing.flip, random: &random)
        let pictureB = domainB.batch(b[...], range: -1...1, size: s, randomCrop: preprocessing.randomCrop, flip: preprocessing.flip, random: &random)
        return try cyclegan.feed(a: pictureA, b: pictureB, random: &random)
    }

    func sheet(seed: UInt64) throws -> PixelImage {
        let rows = min(sheetA.count, sheetB.count)
        let realA = sheetA.batch(Array(0..<rows)[...], range: -1...1), realB = sheetB.batch(Array(0..<rows)[...], range: -1...1)
        let fakeB = try forward.translate(realA), fakeA = try backward.translate(realB)
        let recA = try backward.translate(fakeB), recB = try forward.translate(fakeA)
        let (ca, cb) = (config.inputShape[0], config.imageChannels)
        return Pictures.triplets([realA, fakeB, recA, realB, fakeA, recB], channels: [ca, cb, ca, cb, ca, cb],
                                 count: rows, size: config.imageSize, range: config.pixelRange)
    }
}
