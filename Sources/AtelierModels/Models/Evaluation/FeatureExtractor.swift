import AtelierDevices
import AtelierGraph
import Foundation

/// A trained FeatureClassifier run over pictures, in eval mode, a batch at
/// a time: each picture's features [128] and class probabilities [10].
public final class FeatureExtractor {
    /// The classifier it runs (its parameters on `backend`).
    public let classifier: FeatureClassifier
    /// The device it runs on.
    public let backend: Backend
    /// Pictures measured per launch of the plan.
    public static let batch = 500
    private var plans: [Int: (plan: Plan, images: Tensor, features: Tensor, logits: Tensor)] = [:]

    /// The classifier's parameters must be on `backend` already.
    public init(classifier: FeatureClassifier, backend: Backend) {
        self.classifier = classifier
        self.backend = backend
    }

    /// Features [N, 128] and probabilities [N, 10] of `images` [N, 1, 28, 28] in [-1, 1].
    public func measure(_ images: [Float]) throws -> (features: [Float], probabilities: [Float]) {
        let per = FeatureClassifier.side * FeatureClassifier.side
        guard images.count % per == 0 else { throw ShapeError("pictures to measure must be 28x28 gray, a whole number of them") }
        let count = images.count / per
        var features = [Float](), probabilities = [Float]()
        features.reserveCapacity(count * FeatureClassifier.featureCount)
        probabilities.reserveCapacity(count * FeatureClassifier.classes)
        for first in stride(from: 0, to: count, by: Self.batch) {
            let n = min(Self.batch, count - first)
            let p = try plan(batch: n)
            try p.plan.write(Array(images[first * per..<(first + n) * per]), to: p.images)
            try p.plan.run()
            features += try p.plan.read(p.features)
            probabilities += Self.softmax(try p.plan.read(p.logits), classes: FeatureClassifier.classes)
        }
        return (features, probabilities)
    }

    private func plan(batch n: Int) throws -> (plan: Plan, images: Tensor, features: Tensor, logits: Tensor) {
        if let p = plans[n] { return p }
        let g = Graph()
        let context = ForwardContext(graph: g, training: false)
        let images = g.input("images", [n, 1, FeatureClassifier.side, FeatureClassifier.side])
        let features = try classifier.network.features(images, context)
        let logits = try classifier.network.head(features, context)
        let p = (try Plan(g, on: backend, keep: [features, logits]), images, features, logits)
        plans[n] = p
        return p
    }

    /// A picture as the network takes it: the centre square, gray (ITU-R 601
    /// luma), area-resampled to 28x28, in [-1, 1].
    public static func input(_ picture: PixelImage) -> [Float] {
        let side = FeatureClassifier.side
        let gray = Resample.planar(Resample.channels(Resample.squareCentre(picture, side: side), 1))
        return gray.map { Float($0) / 127.5 - 1 }
    }

    /// `p` in `channels` channels: gray as ITU-R 601 luma, or repeated to RGB.
    public static func channels(_ p: PixelImage, _ channels: Int) -> PixelImage { Resample.channels(p, channels) }

    /// What `input` does to pictures of this kind, in words; nil when nothing (28x28 gray).
    public static func conversion(width: Int, height: Int, channels: Int) -> String? {
        let side = FeatureClassifier.side
        guard width != side || height != side || channels != 1 else { return nil }
        var steps: [String] = []
        if width != height { steps.append("centre square") }
        if channels != 1 { steps.append("RGB to gray (ITU-R 601 luma)") }
        if width != side || height != side { steps.append("\(min(width, height))x\(min(width, height)) to 28x28 by area averaging") }
        return steps.joined(separator: ", ")
    }

    /// Each row of `logits` [N, classes] as probabilities.
    static func softmax(_ logits: [Float], classes: Int) -> [Float] {
        var out = [Float](repeating: 0, count: logits.count)
        for row in stride(from: 0, to: logits.count, by: classes) {
            let top = logits[row..<row + classes].max()!
            var sum = Float(0)
            for c in 0..<classes {
                out[row + c] = Foundation.exp(logits[row + c] - top)
                sum += out[row + c]
            }
            for c in 0..<classes { out[row + c] /= sum }
        }
        return out
    }
}
