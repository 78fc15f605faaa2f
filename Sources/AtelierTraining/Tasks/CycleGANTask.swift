import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

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
