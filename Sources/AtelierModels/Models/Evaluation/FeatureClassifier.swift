import AtelierDevices
import AtelierGraph

/// The network `atelier eval` measures pictures with: a small Fashion-MNIST
/// classifier, two blocks of 3x3 convolution (16, then 32 channels), ReLU
/// and 2x2 max pooling, a
/// dense layer of 128 with ReLU (the features the distances are computed
/// in), and a dense layer to the ten classes' logits. It takes 28x28 gray
/// pictures in [-1, 1]. As a TrainingModel, the generic trainer trains it on
/// softmax cross-entropy.
public final class FeatureClassifier: TrainingModel {
    /// The parts: `features` (conv blocks and the 128-wide layer) and `head` (the logits).
    public final class Network: Module {
        /// Pictures [N, 1, 28, 28] to features [N, 128].
        public let features: Sequential
        /// Features to the classes' logits [N, 10].
        public let head: Dense

        init(rng: inout RandomGenerator) {
            let glorot = Initializer.glorotUniform
            features = Sequential([
                Conv2D(1, 16, kernel: 3, padding: 1, initializer: glorot, rng: &rng), ActivationLayer(.relu), MaxPool(2),
                Conv2D(16, 32, kernel: 3, padding: 1, initializer: glorot, rng: &rng), ActivationLayer(.relu), MaxPool(2),
                Reshape.flatten,
                Dense(32 * 7 * 7, FeatureClassifier.featureCount, initializer: glorot, rng: &rng), ActivationLayer(.relu),
            ])
            head = Dense(FeatureClassifier.featureCount, FeatureClassifier.classes, initializer: glorot, rng: &rng)
        }

        public override func callAsFunction(_ x: Tensor, _ c: ForwardContext) throws -> Tensor {
            try head(try features(x, c), c)
        }
    }

    /// The side of the pictures it takes.
    public static let side = 28
    /// The length of the feature vectors.
    public static let featureCount = 128
    /// The classes (Fashion-MNIST's).
    public static let classes = 10

    /// The layers.
    public let network: Network
    /// Adam's settings (1e-3, betas 0.9 and 0.999: a classifier's usual ones).
    public var optimizer = OptimizerSettings(learningRate: 1e-3, beta1: 0.9)

    /// A network with weights drawn from `rng`.
    public init(rng: inout RandomGenerator) {
        network = Network(rng: &rng)
    }

    /// `classifier`.
    public var networks: [AtelierModels.Network] { [AtelierModels.Network("classifier", network)] }

    /// One group, one Adam.
    public var parameterGroups: [ParameterGroupSpec] {
        [ParameterGroupSpec(name: "classifier", networks: ["classifier"], optimizer: optimizer)]
    }

    /// One phase: the mean softmax cross-entropy of the logits against the one-hot labels.
    public func buildStep(_ step: StepBuilder) throws {
        let g = step.graph
        let images = try step.input("images", sampleShape: [1, Self.side, Self.side])
        let labels = try step.input("labels", sampleShape: [Self.classes])
        let logits = try network(images, step.context)
        try step.phase("C", updates: "classifier", total: "Loss_C") { terms in
            try terms.add("xent", try g(.loss(.mean), try g.apply(SoftmaxCrossEntropyOp(), [logits, labels])[0]), reported: false)
        }
    }

    /// A step's inputs: pictures [N, 1, 28, 28] in [-1, 1] and their classes.
    public func feed(images: [Float], labels: [Int]) throws -> (batch: Int, feed: [String: [Float]]) {
        let per = Self.side * Self.side
        guard !labels.isEmpty, images.count == labels.count * per else {
            throw ShapeError("a classifier batch needs one 28x28 picture per label")
        }
        var oneHot = [Float](repeating: 0, count: labels.count * Self.classes)
        for (n, label) in labels.enumerated() {
            guard (0..<Self.classes).contains(label) else { throw ShapeError("class \(label) is not one of Fashion-MNIST's ten") }
            oneHot[n * Self.classes + label] = 1
        }
        return (labels.count, ["images": images, "labels": oneHot])
    }
}
