import AtelierDevices
import AtelierGraph
/// The 70x70 PatchGAN (junyanz's NLayerDiscriminator, n_layers 3): three
/// 4x4 stride-2 convolutions, one stride-1, and a 4x4 convolution to one
/// map of logits, each judging a 70x70 patch of the input (6x6 of them at
/// 64 px). Layers at junyanz's indices, so parameters carry its names.
public final class PatchDiscriminator: Module {
    public let model: [Module]

    public init(inputChannels: Int, ndf: Int, norm: TranslationSettings.Norm, layers: Int = 3, rng: inout RandomGenerator) {
        let bias = norm == .instance
        let normal = Initializer.normal(std: 0.02)
        var m: [Module] = [Conv2D(inputChannels, ndf, kernel: 4, stride: 2, padding: 1, initializer: normal, rng: &rng),
                           ActivationLayer(.leakyRelu(slope: 0.2))]
        var width = ndf
        for n in 1...layers {
            let next = ndf * min(1 << n, 8)
            m.append(Conv2D(width, next, kernel: 4, stride: n < layers ? 2 : 1, padding: 1, bias: bias, initializer: normal, rng: &rng))
            m.append(norm.layer(next, rng: &rng))
            m.append(ActivationLayer(.leakyRelu(slope: 0.2)))
            width = next
        }
        m.append(Conv2D(width, 1, kernel: 4, stride: 1, padding: 1, initializer: normal, rng: &rng))
        model = m
    }

    /// The side of the logit map for `size` x `size` inputs.
    public static func outputSide(_ size: Int, layers: Int = 3) -> Int {
        var s = size
        for _ in 0..<layers { s = (s + 2 - 4) / 2 + 1 }
        return s - 2  // two stride-1 4x4 convolutions with padding 1
    }

    public override func callAsFunction(_ x: Tensor, _ context: ForwardContext) throws -> Tensor {
        try model.reduce(x) { try $1($0, context) }
    }
}
