import AtelierDevices
import AtelierGraph
/// How an image-to-image model is built and trained, beyond what every
/// model has (size, output channels, widths, adversarial loss). Saved in
/// checkpoints with the rest of the `ModelConfig`.
public struct TranslationSettings: Codable, Sendable, Equatable {
    /// The normalisation layers of both networks (junyanz's --norm).
    public enum Norm: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        case batch, instance
        public var description: String { rawValue }
    }

    /// Which half of a pair is the input: A -> B or B -> A (junyanz's --direction).
    public enum Direction: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        case AtoB, BtoA
        public var description: String { rawValue }
    }

    /// Channels of the input images (the outputs' are the config's imageChannels).
    public var inputChannels: Int
    public var norm: Norm
    /// Weight of the L1 distance to the target in G's loss (pix2pix's 100).
    public var lambdaL1: Float
    /// Dropout of the innermost decoder levels, kept on when translating.
    public var dropout: Float
    /// The direction the model was trained in.
    public var direction: Direction

    public init(inputChannels: Int, norm: Norm = .batch, lambdaL1: Float = 100, dropout: Float = 0.5, direction: Direction = .AtoB) {
        self.inputChannels = inputChannels
        self.norm = norm
        self.lambdaL1 = lambdaL1
        self.dropout = dropout
        self.direction = direction
    }

    func validate() throws {
        guard inputChannels == 1 || inputChannels == 3 else {
            throw ShapeError("input images have 1 (gray) or 3 (RGB) channels, not \(inputChannels)")
        }
        guard lambdaL1 >= 0, lambdaL1.isFinite else { throw ShapeError("--lambda-l1 must be zero or positive, e.g. 100") }
        guard (0..<1).contains(dropout) else { throw ShapeError("--dropout must lie in [0, 1), e.g. 0.5") }
    }
}
