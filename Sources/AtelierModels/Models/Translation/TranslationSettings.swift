import AtelierDevices
import AtelierGraph
/// How an image-to-image model is built and trained, beyond what every
/// model has (size, output channels, widths, adversarial loss). Saved in
/// checkpoints with the rest of the `ModelConfig`.
public struct TranslationSettings: Codable, Sendable, Equatable {
    /// The normalisation layers of both networks (junyanz's --norm).
    public enum Norm: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        case batch, instance
        /// The name the option takes.
        public var description: String { rawValue }

        /// The layer, initialised as junyanz does: BatchNorm weights N(1,
        /// 0.02); InstanceNorm without affine parameters.
        func layer(_ channels: Int, rng: inout RandomGenerator) -> Module {
            switch self {
            case .batch: BatchNorm(channels, weightInitial: rng.normal(channels, mean: 1, std: 0.02))
            case .instance: InstanceNorm(channels)
            }
        }
    }

    /// Which half of a pair is the input: A -> B or B -> A (junyanz's --direction).
    public enum Direction: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        case AtoB, BtoA
        /// The name the option takes.
        public var description: String { rawValue }
    }

    /// Channels of the input images (the outputs' are the config's imageChannels).
    public var inputChannels: Int
    /// The networks' normalisation.
    public var norm: Norm
    /// Weight of the L1 distance to the target in G's loss (pix2pix's 100).
    public var lambdaL1: Float
    /// Dropout of the innermost decoder levels, kept on when translating.
    public var dropout: Float
    /// The direction the model was trained in (pix2pix).
    public var direction: Direction
    /// CycleGAN: weights of the cycle terms A -> B -> A and B -> A -> B (10).
    public var lambdaA: Float
    public var lambdaB: Float
    /// CycleGAN: the identity terms' weight relative to the cycle terms (0.5).
    public var lambdaIdentity: Float
    /// CycleGAN: images each discriminator's history holds (50; 0: none).
    public var poolSize: Int
    /// CycleGAN: residual blocks of the generators (9 from 256 px, else 6).
    public var residualBlocks: Int

    /// Settings with junyanz's defaults.
    public init(inputChannels: Int, norm: Norm = .batch, lambdaL1: Float = 100, dropout: Float = 0.5, direction: Direction = .AtoB,
                lambdaA: Float = 10, lambdaB: Float = 10, lambdaIdentity: Float = 0.5, poolSize: Int = 50, residualBlocks: Int = 9) {
        self.inputChannels = inputChannels
        self.norm = norm
        self.lambdaL1 = lambdaL1
        self.dropout = dropout
        self.direction = direction
        self.lambdaA = lambdaA
        self.lambdaB = lambdaB
        self.lambdaIdentity = lambdaIdentity
        self.poolSize = poolSize
        self.residualBlocks = residualBlocks
    }

    private enum CodingKeys: String, CodingKey {
        case inputChannels, norm, lambdaL1, dropout, direction, lambdaA, lambdaB, lambdaIdentity, poolSize, residualBlocks
    }

    /// Settings of pix2pix checkpoints lack CycleGAN's keys: those keep their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TranslationSettings(inputChannels: try c.decode(Int.self, forKey: .inputChannels))
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        self.init(inputChannels: d.inputChannels, norm: try value(.norm, d.norm), lambdaL1: try value(.lambdaL1, d.lambdaL1),
                  dropout: try value(.dropout, d.dropout), direction: try value(.direction, d.direction),
                  lambdaA: try value(.lambdaA, d.lambdaA), lambdaB: try value(.lambdaB, d.lambdaB),
                  lambdaIdentity: try value(.lambdaIdentity, d.lambdaIdentity), poolSize: try value(.poolSize, d.poolSize),
                  residualBlocks: try value(.residualBlocks, d.residualBlocks))
    }

    func validate() throws {
        guard inputChannels == 1 || inputChannels == 3 else {
            throw ShapeError("input images have 1 (gray) or 3 (RGB) channels, not \(inputChannels)")
        }
        guard lambdaL1 >= 0, lambdaL1.isFinite else { throw ShapeError("--lambda-l1 must be zero or positive, e.g. 100") }
        guard (0..<1).contains(dropout) else { throw ShapeError("--dropout must lie in [0, 1), e.g. 0.5") }
        for (name, v) in [("--lambda-a", lambdaA), ("--lambda-b", lambdaB), ("--lambda-identity", lambdaIdentity)] {
            guard v >= 0, v.isFinite else { throw ShapeError("\(name) must be zero or positive") }
        }
        guard (0...10_000).contains(poolSize) else { throw ShapeError("--pool-size must lie in 0...10000 (junyanz uses 50)") }
        guard (0...64).contains(residualBlocks) else { throw ShapeError("--residual-blocks must lie in 0...64 (junyanz uses 6 or 9)") }
    }
}
