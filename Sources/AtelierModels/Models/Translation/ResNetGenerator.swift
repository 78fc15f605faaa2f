import AtelierDevices
import AtelierGraph
/// CycleGAN's generator (junyanz's ResnetGenerator): reflection-pad 3 and a
/// 7x7 convolution to ngf channels, two 3x3 stride-2 convolutions down
/// (2ngf, 4ngf), `blocks` residual blocks, two 3x3 stride-2 transposed
/// convolutions up (output_padding 1), reflection-pad 3, a 7x7 convolution
/// to the output and tanh; each convolution but the last followed by the
/// norm and ReLU. The layers sit at junyanz's indices, so parameters carry
/// its names ("model.1.weight", "model.10.conv_block.1.weight").
public final class ResNetGenerator: Module {
    public let model: [Module]

    public init(inputChannels: Int, outputChannels: Int, blocks: Int, ngf: Int, norm: TranslationSettings.Norm,
                rng: inout RandomGenerator) {
        let bias = norm == .instance
        let normal = Initializer.normal(std: 0.02)
        var m: [Module] = [Pad(.reflect, 3), Conv2D(inputChannels, ngf, kernel: 7, bias: bias, initializer: normal, rng: &rng),
                           norm.layer(ngf, rng: &rng), ActivationLayer(.relu)]
        for k in [1, 2] {
            m += [Conv2D(ngf * k, ngf * k * 2, kernel: 3, stride: 2, padding: 1, bias: bias, initializer: normal, rng: &rng),
                  norm.layer(ngf * k * 2, rng: &rng), ActivationLayer(.relu)]
        }
        for _ in 0..<blocks { m.append(ResNetBlock(ngf * 4, norm: norm, bias: bias, rng: &rng)) }
        for k in [4, 2] {
            m += [ConvTranspose2D(ngf * k, ngf * k / 2, kernel: 3, stride: 2, padding: 1, outputPadding: 1, bias: bias,
                                  initializer: normal, rng: &rng),
                  norm.layer(ngf * k / 2, rng: &rng), ActivationLayer(.relu)]
        }
        m += [Pad(.reflect, 3), Conv2D(ngf, outputChannels, kernel: 7, initializer: normal, rng: &rng), ActivationLayer(.tanh)]
        model = m
    }

    public override func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        try model.reduce(x) { try $1($0, context) }
    }
}

/// x + [reflect-pad 1, conv 3x3, norm, ReLU, reflect-pad 1, conv 3x3, norm](x).
public final class ResNetBlock: Module {
    /// junyanz's name for the block's layers, kept so parameters load across.
    public let conv_block: [Module]  // swiftlint:disable:this identifier_name

    init(_ channels: Int, norm: TranslationSettings.Norm, bias: Bool, rng: inout RandomGenerator) {
        let normal = Initializer.normal(std: 0.02)
        let first = Conv2D(channels, channels, kernel: 3, bias: bias, initializer: normal, rng: &rng)
        let firstNorm = norm.layer(channels, rng: &rng)
        let second = Conv2D(channels, channels, kernel: 3, bias: bias, initializer: normal, rng: &rng)
        conv_block = [Pad(.reflect, 1), first, firstNorm, ActivationLayer(.relu), Pad(.reflect, 1), second, norm.layer(channels, rng: &rng)]
    }

    public override func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        let y = try conv_block.reduce(x) { try $1($0, context) }
        return try context.graph(.add, x, y)
    }
}
