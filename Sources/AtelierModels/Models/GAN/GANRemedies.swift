import AtelierDevices
/// Training settings that keep a GAN from collapsing, each off by default so
/// the models train as their recipes say:
/// - one-sided label smoothing: D's target for real pictures is 1 - s
///   (Salimans et al. 2016), so D does not grow overconfident;
/// - instance noise: Gaussian noise added to every picture D sees, real or
///   generated, its deviation falling linearly from `instanceNoise` to 0
///   over the run (Sønderby et al. 2016), so the two distributions overlap
///   early on and D's gradient stays informative;
/// - a learning rate of D's own (TTUR, Heusel et al. 2017).
public struct GANRemedies: Codable, Sendable, Equatable {
    /// s in D's real target 1 - s (0: none).
    public var labelSmoothing: Float = 0
    /// The instance noise's deviation at the start, in the pixel range's units (0: none).
    public var instanceNoise: Float = 0
    /// D's learning rate (nil: the same as G's).
    public var discriminatorLearningRate: Float?

    /// No remedy.
    public init(labelSmoothing: Float = 0, instanceNoise: Float = 0, discriminatorLearningRate: Float? = nil) {
        (self.labelSmoothing, self.instanceNoise, self.discriminatorLearningRate) = (labelSmoothing, instanceNoise, discriminatorLearningRate)
    }

    /// Refuses values that make no sense, naming the option.
    public func validate(mode: GANLoss) throws {
        guard (0..<1).contains(labelSmoothing) else { throw ShapeError("--label-smoothing must lie in [0, 1), e.g. 0.1") }
        guard labelSmoothing == 0 || mode != .hinge else { throw ShapeError("--label-smoothing applies to --gan-mode vanilla and lsgan, whose targets are labels; hinge has none") }
        guard instanceNoise >= 0, instanceNoise.isFinite, instanceNoise <= 10 else { throw ShapeError("--instance-noise must lie in 0...10, e.g. 0.1") }
        if let rate = discriminatorLearningRate { guard rate > 0, rate.isFinite else { throw ShapeError("--lr-d must be a positive number, e.g. 1e-4") } }
    }
}
