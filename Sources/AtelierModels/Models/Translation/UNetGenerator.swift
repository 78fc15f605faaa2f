import AtelierDevices
import AtelierGraph
/// pix2pix's generator (junyanz's UnetGenerator): 4x4 stride-2
/// convolutions halve the image down to 1x1 (64, 128, 256, 512, 512...
/// channels), 4x4 stride-2 transposed convolutions bring it back, and every
/// level joins its input to its output along the channels (the skip
/// connections). The layers sit at junyanz's indices, so parameters carry
/// junyanz's names ("model.model.1.model.1.weight") and checkpoints load
/// in both directions.
public final class UNetGenerator: Module {
    /// The outermost level, holding the others (junyanz's `model`).
    public let model: UNetLevel

    /// `depth` levels (log2 of the image side: the innermost works on 1x1);
    /// the `depth - 5` levels just outside the innermost end in dropout.
    public init(inputChannels: Int, outputChannels: Int, depth: Int, ngf: Int, norm: TranslationSettings.Norm,
                dropout: Float, rng: inout RandomGenerator) {
        precondition(depth >= 5, "a U-Net needs at least 5 levels")
        var level = UNetLevel(outer: ngf * 8, inner: ngf * 8, position: .innermost, norm: norm, rng: &rng)
        for _ in 0..<(depth - 5) {
            level = UNetLevel(outer: ngf * 8, inner: ngf * 8, sub: level, position: .middle, norm: norm, dropout: dropout, rng: &rng)
        }
        for m in [4, 2, 1] {
            level = UNetLevel(outer: ngf * m, inner: ngf * m * 2, sub: level, position: .middle, norm: norm, rng: &rng)
        }
        model = UNetLevel(outer: outputChannels, inner: ngf, input: inputChannels, sub: level, position: .outermost, norm: norm, rng: &rng)
    }

    public override func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        try model(x, context)
    }
}

/// One level of the U-Net, as junyanz's UnetSkipConnectionBlock:
///   outermost  [conv, inner, ReLU, transposed conv (bias), tanh]
///   middle     [LeakyReLU, conv, norm, inner, ReLU, transposed conv, norm, (dropout)]
///   innermost  [LeakyReLU, conv, ReLU, transposed conv, norm]
/// A level below the outermost returns concat(h, level(h)) with
/// h = LeakyReLU(x, 0.2): junyanz's LeakyReLU is in place, so its skip
/// carries the activated input, and so does this one (results match).
public final class UNetLevel: Module {
    /// Where a level sits: outermost (the image), innermost (1x1) or between.
    public enum Position: Sendable { case outermost, middle, innermost }
    /// The level's layers in junyanz's order (its inner level among them).
    public let model: [Module]
    /// Where it sits.
    public let position: Position

    init(outer: Int, inner: Int, input: Int? = nil, sub: UNetLevel? = nil, position: Position, norm: TranslationSettings.Norm,
         dropout: Float = 0, rng: inout RandomGenerator) {
        // junyanz gives convolutions in front of a norm a bias only under
        // InstanceNorm (BatchNorm's shift makes it redundant).
        let bias = norm == .instance
        let normal = Initializer.normal(std: 0.02)
        let down = Conv2D(input ?? outer, inner, kernel: 4, stride: 2, padding: 1, bias: bias, initializer: normal, rng: &rng)
        let lrelu = ActivationLayer(.leakyRelu(slope: 0.2))
        switch position {
        case .outermost:
            let up = ConvTranspose2D(inner * 2, outer, kernel: 4, stride: 2, padding: 1, initializer: normal, rng: &rng)
            model = [down, sub!, ActivationLayer(.relu), up, ActivationLayer(.tanh)]
        case .innermost:
            let up = ConvTranspose2D(inner, outer, kernel: 4, stride: 2, padding: 1, bias: bias, initializer: normal, rng: &rng)
            model = [lrelu, down, ActivationLayer(.relu), up, norm.layer(outer, rng: &rng)]
        case .middle:
            let downNorm = norm.layer(inner, rng: &rng)
            let up = ConvTranspose2D(inner * 2, outer, kernel: 4, stride: 2, padding: 1, bias: bias, initializer: normal, rng: &rng)
            model = [lrelu, down, downNorm, sub!, ActivationLayer(.relu), up, norm.layer(outer, rng: &rng)]
                + (dropout > 0 ? [Dropout(dropout, inEvaluation: true)] : [])
        }
        self.position = position
    }

    public override func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        if position == .outermost { return try model.reduce(x) { try $1($0, context) } }
        let h = try model[0](x, context)
        let y = try model.dropFirst().reduce(h) { try $1($0, context) }
        return try context.graph.apply(.concatChannels, [h, y])[0]
    }
}
