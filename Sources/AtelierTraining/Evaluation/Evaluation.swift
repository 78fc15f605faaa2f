import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

/// What `atelier eval` reports for a set of pictures, measured against
/// Fashion-MNIST's test pictures in the feature network's 128 features.
public struct EvaluationReport: Codable, Sendable {
    /// The checkpoint or folder measured.
    public var source: String
    /// The model, for a checkpoint.
    public var model: ModelKind?
    /// The checkpoint's epochs.
    public var epoch: Int?
    /// Pictures measured.
    public var count: Int
    /// What was done to the pictures to fit the network (nil: nothing).
    public var conversion: String?
    /// The reference: Fashion-MNIST's test pictures.
    public var referenceCount: Int
    /// The Fréchet distance of the two feature distributions (FID's formula, this network's features).
    public var frechetDistance: Double
    /// The kernel distance (KID), the mean over subsets, and its standard error.
    public var kernelDistance: Double
    public var kernelDistanceError: Double
    /// The entropy of the predicted classes (nats; ln 10 = 2.30 when even).
    public var classCoverage: Double
    /// The mean probability of the predicted class.
    public var confidence: Double
    /// The share of pictures in each predicted class, by class name.
    public var classShares: [String: Double]
    /// A conditional model's: the share of each class's pictures classified as that class.
    public var classAgreement: [String: Double]?
    /// Their mean over the classes.
    public var meanClassAgreement: Double?
    /// The feature network's accuracy on the test pictures, and its recipe.
    public var featureNetworkAccuracy: Double
    public var featureNetwork: String
}

/// Scores pictures with the feature network: a generator's samples or a
/// folder's pictures, against Fashion-MNIST's test set.
public final class Evaluator {
    /// The network and its device.
    public let network: FeatureNetwork.Loaded
    public let recipe: FeatureNetwork.Recipe
    private let dataroot: String
    private var measuredReference: (features: [Float], statistics: FeatureStatistics)?

    /// Loads (or trains) the feature network.
    public init(backend: Backend, recipe: FeatureNetwork.Recipe = .init(), dataroot: String = FashionMNIST.defaultDirectory,
                cache: URL? = CacheDirectory.folder("eval"), log: (String) -> Void = { _ in }) throws {
        network = try FeatureNetwork.load(backend: backend, recipe: recipe, dataroot: dataroot, cache: cache, log: log)
        self.recipe = recipe
        self.dataroot = dataroot
    }

    /// The test set's features and their statistics, measured on first use.
    private func reference() throws -> (features: [Float], statistics: FeatureStatistics) {
        if let measuredReference { return measuredReference }
        let test = try FashionMNIST.load(directory: dataroot, train: false)
        let features = try network.extractor.measure(test.batch(Array(0..<test.count)[...], range: -1...1)).features
        let measured = (features, try FeatureStatistics(features: features, dimension: FeatureClassifier.featureCount))
        measuredReference = measured
        return measured
    }

    /// `count` samples of the GAN checkpoint at `path` (noise from `seed`;
    /// a conditional model's classes in turn), scored.
    public func evaluate(checkpoint path: String, count: Int, seed: UInt64, backend: Backend,
                         batchStatistics: Bool = false) throws -> EvaluationReport {
        let (model, state) = try GANModel.restored(from: path, on: backend)
        var report = try evaluate(GANSampler(model: model, backend: backend, batchStatistics: batchStatistics), count: count, seed: seed, source: path)
        report.epoch = state.epoch
        return report
    }

    /// `count` samples of a generator (noise from `seed`; a conditional
    /// model's classes in turn), scored.
    public func evaluate(_ sampler: GANSampler, count: Int, seed: UInt64, source: String) throws -> EvaluationReport {
        let config = sampler.model.config
        var noise = RandomGenerator(seed: seed)
        let classes = config.isConditional ? (0..<count).map { $0 % config.classes } : nil
        var inputs: [Float] = []
        inputs.reserveCapacity(count * FeatureClassifier.side * FeatureClassifier.side)
        // Batch statistics over a training batch's worth, as PyTorch's peers draw them.
        let chunk = sampler.batchStatistics ? 64 : 256
        for first in stride(from: 0, to: count, by: chunk) {
            let n = min(chunk, count - first)
            let images = try sampler.generate(noise: noise.normal(n * config.nz), classes: classes.map { Array($0[first..<first + n]) })
            inputs += Self.inputs(images, config: config)
        }
        var report = try score(inputs, source: source, classNames: config.isConditional ? config.classNames : nil, requested: classes,
                               conversion: FeatureExtractor.conversion(width: config.imageSize, height: config.imageSize, channels: config.imageChannels))
        report.model = config.kind
        return report
    }

    /// A GAN's images (in its pixel range) as the network's inputs, through
    /// 8-bit pictures as the sheets and `sample` write them.
    static func inputs(_ images: [Float], config: ModelConfig) -> [Float] {
        let per = config.imageShape.reduce(1, *)
        var inputs: [Float] = []
        for i in 0..<images.count / per {
            let picture = Pictures.sheet(Array(images[i * per..<(i + 1) * per]), count: 1, channels: config.imageChannels,
                                         size: config.imageSize, columns: 1, range: config.pixelRange, zoom: 1, border: false)
            inputs += FeatureExtractor.input(picture)
        }
        return inputs
    }

    /// The pictures of `folder` (and its class folders), at most `limit`, scored.
    public func evaluate(folder: String, limit: Int) throws -> EvaluationReport {
        let files = try ImageFolder.listing(folder).files.prefix(limit)
        guard files.count >= 2 else { throw EvaluationError("\(folder) holds \(files.count) picture\(files.count == 1 ? "" : "s"); scoring needs at least two") }
        var inputs: [Float] = []
        var kinds = Set<String>()
        for (url, _) in files {
            let picture = try ImageFile.read(url.path)
            kinds.insert(FeatureExtractor.conversion(width: picture.width, height: picture.height, channels: picture.channels) ?? "")
            inputs += FeatureExtractor.input(picture)
        }
        let conversion = kinds.subtracting([""]).sorted().joined(separator: "; ")
        return try score(inputs, source: folder, classNames: nil, requested: nil, conversion: conversion.isEmpty ? nil : conversion)
    }

    /// Scores network inputs [N, 1, 28, 28] in [-1, 1].
    public func score(_ inputs: [Float], source: String, classNames: [String]?, requested: [Int]?, conversion: String?) throws -> EvaluationReport {
        let classes = FeatureClassifier.classes
        let (features, probabilities) = try network.extractor.measure(inputs)
        let d = FeatureClassifier.featureCount
        let reference = try reference()
        let statistics = try FeatureStatistics(features: features, dimension: d)
        let frechet = try statistics.frechetDistance(to: reference.statistics)
        let kid = try QualityMetrics.kernelDistance(features, reference.features, dimension: d)
        let predicted = QualityMetrics.predictedClasses(probabilities, classes: classes)
        var shares: [String: Double] = [:]
        for (k, name) in FashionMNIST.classNames.enumerated() {
            shares[name] = Double(predicted.filter { $0 == k }.count) / Double(predicted.count)
        }
        var agreement: [String: Double]?, meanAgreement: Double?
        // Agreement is defined when the model's classes are Fashion-MNIST's.
        if let requested, let classNames, classNames == FashionMNIST.classNames {
            let perClass = QualityMetrics.classAgreement(predicted: predicted, requested: requested, classes: classes)
            agreement = Dictionary(uniqueKeysWithValues: zip(classNames, perClass).compactMap { name, share in share.map { (name, $0) } })
            let known = perClass.compactMap { $0 }
            meanAgreement = known.reduce(0, +) / Double(max(known.count, 1))
        }
        return EvaluationReport(source: source, model: nil, epoch: nil, count: predicted.count, conversion: conversion,
                                referenceCount: reference.statistics.count, frechetDistance: frechet, kernelDistance: kid.mean,
                                kernelDistanceError: kid.standardError,
                                classCoverage: QualityMetrics.classCoverage(predicted, classes: classes),
                                confidence: QualityMetrics.confidence(probabilities, classes: classes), classShares: shares,
                                classAgreement: agreement, meanClassAgreement: meanAgreement,
                                featureNetworkAccuracy: network.testAccuracy, featureNetwork: recipe.key)
    }
}
