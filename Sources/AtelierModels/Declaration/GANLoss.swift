import AtelierDevices
import AtelierGraph
/// The adversarial losses a GAN can train with (pytorch-CycleGAN-and-pix2pix's
/// --gan-mode): each gives the discriminator's term for real or fake
/// samples and the generator's term, on the discriminator's raw outputs.
public enum GANLoss: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Binary cross-entropy on logits (the original GAN, DCGAN, pix2pix).
    case vanilla
    /// Least squares against 1 and 0 (LSGAN; CycleGAN's default).
    case lsgan
    /// max(0, 1 - D(x)) + max(0, 1 + D(G(z))) for D, -D(G(z)) for G.
    case hinge

    public var description: String { rawValue }

    /// D's loss on `scores` of real or fake samples; `smoothing` lowers the
    /// real target to 1 - smoothing (one-sided: fake stays 0).
    public func discriminator(_ scores: Tensor, real: Bool, smoothing: Float = 0, _ g: Graph) throws -> Tensor {
        let target: Float = real ? 1 - smoothing : 0
        return switch self {
        case .vanilla: try g(.loss(.bceWithLogits), scores, g.constant(target, scores.shape))
        case .lsgan: try g(.loss(.mse), scores, g.constant(target, scores.shape))
        case .hinge: try g(.loss(.hinge), scores, g.constant(real ? 1 : -1, scores.shape))
        }
    }

    /// G's loss on D's `scores` of generated samples.
    public func generator(_ scores: Tensor, _ g: Graph) throws -> Tensor {
        switch self {
        case .vanilla: try g(.loss(.bceWithLogits), scores, g.constant(1, scores.shape))
        case .lsgan: try g(.loss(.mse), scores, g.constant(1, scores.shape))
        case .hinge: try g(.scale(-1), try g(.loss(.mean), scores))
        }
    }

    /// The mean of what D says of `scores`: a probability for vanilla
    /// (D(x), D(G(z)) as pytorch/examples print them), the raw score else.
    public func meanScore(_ scores: Tensor, _ g: Graph) throws -> Tensor {
        switch self {
        case .vanilla: try g(.loss(.mean), try g(.activation(.sigmoid), scores))
        case .lsgan, .hinge: try g(.loss(.mean), scores)
        }
    }
}
