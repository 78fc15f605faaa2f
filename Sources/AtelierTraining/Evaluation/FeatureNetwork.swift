import AtelierDevices
import AtelierGraph
import AtelierModels
import Foundation

/// The feature network of `atelier eval`, trained on Fashion-MNIST's
/// training set the first time it is needed (about a minute on two cores)
/// and kept in the cache under its recipe, so every later evaluation, on
/// any device, measures with the same weights.
public enum FeatureNetwork {
    /// What decides the weights: change any of it and the network is trained again.
    public struct Recipe: Sendable, Equatable {
        public var epochs = 5
        public var batchSize = 128
        public var seed: UInt64 = 0
        /// Training pictures (nil: all 60,000); fewer only for quick tests.
        public var limitImages: Int?
        /// The recipe as it is written.
        public init(epochs: Int = 5, batchSize: Int = 128, seed: UInt64 = 0, limitImages: Int? = nil) {
            (self.epochs, self.batchSize, self.seed, self.limitImages) = (epochs, batchSize, seed, limitImages)
        }
        /// The cache file's name and the key in its metadata.
        public var key: String {
            "fashion-mnist-cnn16-32-e\(epochs)-b\(batchSize)-s\(seed)" + (limitImages.map { "-n\($0)" } ?? "")
        }
    }

    /// A network ready to measure, and where it came from.
    public struct Loaded {
        /// The network, on the backend it was loaded for.
        public let extractor: FeatureExtractor
        /// Its accuracy on Fashion-MNIST's 10,000 test pictures.
        public let testAccuracy: Double
        /// The cache file (nil when no cache folder could be written).
        public let file: URL?
        /// Whether it was trained just now.
        public let trained: Bool
    }

    static let accuracyKey = "test_accuracy", recipeKey = "recipe"

    /// The network of `recipe`, from the cache, or trained now (and cached)
    /// on the Fashion-MNIST of `dataroot`, with its progress sent to `log`.
    public static func load(backend: Backend, recipe: Recipe = Recipe(), dataroot: String = FashionMNIST.defaultDirectory,
                            cache: URL? = CacheDirectory.folder("eval"), log: (String) -> Void = { _ in }) throws -> Loaded {
        if let loaded = loadCached(backend: backend, recipe: recipe, cache: cache) { return loaded }
        let file = cache?.appendingPathComponent(recipe.key + ".safetensors")
        var rng = RandomGenerator(seed: recipe.seed)
        let classifier = FeatureClassifier(rng: &rng)
        log("training the feature network (\(recipe.key), first use only)...")
        var train = try FashionMNIST.load(directory: dataroot, train: true)
        if let limit = recipe.limitImages { train = train.prefix(limit) }
        let test = try FashionMNIST.load(directory: dataroot, train: false)
        let trainer = try Trainer(model: classifier, backend: backend)
        trainer.randomSeed = recipe.seed
        let steps = train.count / recipe.batchSize
        guard steps >= 1 else { throw EvaluationError("the feature network needs at least \(recipe.batchSize) training pictures") }
        for epoch in 1...recipe.epochs {
            let order = rng.permutation(train.count)
            for s in 0..<steps {
                let indices = order[s * recipe.batchSize..<(s + 1) * recipe.batchSize]
                let (n, feed) = try classifier.feed(images: train.batch(indices, range: -1...1), labels: indices.map { train.labels[$0] })
                try trainer.step(batch: n, feed: feed)
            }
            let loss = try trainer.statistics()["Loss_C"] ?? .nan
            log(String(format: "feature network: epoch %d/%d, loss %.4f", epoch, recipe.epochs, loss))
        }
        let extractor = FeatureExtractor(classifier: classifier, backend: backend)
        let accuracy = try Self.accuracy(extractor, on: test)
        log(String(format: "feature network: %.2f %% of Fashion-MNIST's test pictures classified right", accuracy * 100))
        if let file {
            let entries = try classifier.namedParameters.map { name, p in
                Safetensors.Entry(name: name, shape: p.shape.dims, values: try backend.read(try p.bound()))
            }
            let data = try Safetensors.encode(entries, metadata: [recipeKey: recipe.key, accuracyKey: String(accuracy)])
            do {
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try TemporaryFile.write(data, to: file)
            } catch {
                log("note: could not cache the feature network in \(file.path) (\(error)); it will be trained again next time")
            }
        }
        return Loaded(extractor: extractor, testAccuracy: accuracy, file: file, trained: true)
    }

    /// The network of `recipe` if the cache holds it whole; nil otherwise (nothing is trained).
    public static func loadCached(backend: Backend, recipe: Recipe = Recipe(), cache: URL? = CacheDirectory.folder("eval")) -> Loaded? {
        guard let file = cache?.appendingPathComponent(recipe.key + ".safetensors"),
              let (tensors, accuracy) = try? cached(file, recipe: recipe) else { return nil }
        var rng = RandomGenerator(seed: recipe.seed)
        let classifier = FeatureClassifier(rng: &rng)
        do {
            for (name, p) in classifier.namedParameters {
                guard let entry = tensors[name], entry.shape == p.shape.dims else { return nil }
                try p.place(on: backend)
                try backend.write(entry.values, to: try p.bound())
            }
        } catch {
            return nil
        }
        return Loaded(extractor: FeatureExtractor(classifier: classifier, backend: backend), testAccuracy: accuracy, file: file, trained: false)
    }

    /// The share of `test`'s pictures the network classifies right.
    public static func accuracy(_ extractor: FeatureExtractor, on test: ImageDataset) throws -> Double {
        let measured = try extractor.measure(test.batch(Array(0..<test.count)[...], range: -1...1))
        let predicted = QualityMetrics.predictedClasses(measured.probabilities, classes: FeatureClassifier.classes)
        return Double(zip(predicted, test.labels).filter { $0 == $1 }.count) / Double(test.count)
    }

    /// A cache file's tensors and recorded accuracy, when it is this recipe's and whole.
    static func cached(_ file: URL, recipe: Recipe) throws -> ([String: Safetensors.Entry], Double)? {
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        let (tensors, metadata) = try Safetensors.decode(try Data(contentsOf: file), source: file.path)
        guard metadata[recipeKey] == recipe.key, let accuracy = metadata[accuracyKey].flatMap(Double.init),
              tensors.values.allSatisfy({ $0.values.allSatisfy(\.isFinite) }) else { return nil }
        return (tensors, accuracy)
    }
}
