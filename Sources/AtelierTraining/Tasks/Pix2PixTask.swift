import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

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
