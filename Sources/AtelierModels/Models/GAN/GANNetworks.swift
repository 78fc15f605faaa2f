import AtelierDevices
import AtelierGraph
/// The generator and discriminator of each GAN model, built for the
/// config's image size, channels and widths.
enum GANNetworks {
    /// The reference article's GAN (Keras defaults: Glorot-uniform weights,
    /// zero biases): an MLP generator and a small convolutional
    /// discriminator.
    static func article(_ config: ModelConfig, rng: inout RandomGenerator) -> (Module, Module) {
        let (c, s, nz) = (config.imageChannels, config.imageSize, config.nz)
        let glorot = Initializer.glorotUniform
        let after = ((s - 3) / 2 + 1 - 3) / 2 + 1  // two 3x3 stride-2 convolutions
        let generator = Sequential([
            Dense(nz, 256, initializer: glorot, rng: &rng), ActivationLayer(.relu),
            Dense(256, 512, initializer: glorot, rng: &rng), ActivationLayer(.relu),
            Dense(512, 1024, initializer: glorot, rng: &rng), ActivationLayer(.relu),
            Dense(1024, c * s * s, initializer: glorot, rng: &rng), ActivationLayer(.sigmoid),
            Reshape([c, s, s]),
        ])
        let std = config.minibatchStd ? 1 : 0
        let discriminator = Sequential([
            Conv2D(c, 32, kernel: 3, stride: 2, initializer: glorot, rng: &rng), ActivationLayer(.relu),
            Conv2D(32, 64, kernel: 3, stride: 2, initializer: glorot, rng: &rng), ActivationLayer(.relu),
            Reshape.flatten,
        ] + (config.minibatchStd ? [MinibatchStd()] : []) + [
            Dense(64 * after * after + std, 1024, initializer: glorot, rng: &rng), ActivationLayer(.relu),
            Dense(1024, 1, initializer: glorot, rng: &rng),
        ])
        return (generator, discriminator)
    }

    /// DCGAN for 28x28 images (Fashion-MNIST's size): a dense layer to 7x7,
    /// two transposed convolutions up; two convolutions down and a dense
    /// logit. A conditional model takes the one-hot class beside z in G, and
    /// as k constant planes beside the image in D.
    static func dcgan28(_ config: ModelConfig, rng: inout RandomGenerator) -> (Module, Module) {
        let (c, k, nz) = (config.imageChannels, config.classes, config.nz)
        let (g1, g2, d1, d2) = (config.ngf * 2, config.ngf, config.ndf, config.ndf * 2)
        let normal = Initializer.normal(std: 0.02)
        let generator = Sequential([
            Dense(nz + k, g1 * 7 * 7, bias: false, initializer: normal, rng: &rng),
            BatchNorm(g1 * 7 * 7), ActivationLayer(.relu),
            Reshape([g1, 7, 7]),
            ConvTranspose2D(g1, g2, kernel: 4, stride: 2, padding: 1, bias: false, initializer: normal, rng: &rng),
            BatchNorm(g2), ActivationLayer(.relu),
            ConvTranspose2D(g2, c, kernel: 4, stride: 2, padding: 1, initializer: normal, rng: &rng),
            ActivationLayer(.tanh),
        ])
        let discriminator = Sequential([
            Conv2D(c + config.discriminatorClassPlanes, d1, kernel: 4, stride: 2, padding: 1, initializer: normal, rng: &rng),
            ActivationLayer(.leakyRelu(slope: 0.2)),
            Conv2D(d1, d2, kernel: 4, stride: 2, padding: 1, bias: false, initializer: normal, rng: &rng),
            BatchNorm(d2), ActivationLayer(.leakyRelu(slope: 0.2)),
            Reshape.flatten,
        ] + (config.minibatchStd ? [MinibatchStd()] : []) + [
            Dense(d2 * 7 * 7 + (config.minibatchStd ? 1 : 0), config.discriminatorOutputs, initializer: normal, rng: &rng),
        ])
        return (generator, discriminator)
    }

    /// pytorch/examples' DCGAN, for any power-of-two size from 16: z as a
    /// 1x1 image, a 4x4 transposed convolution to 4x4, then stride-2 ones
    /// doubling the size and halving the width down to ngf, and a last one
    /// to the image; D mirrors it and ends in a 4x4 convolution to one logit.
    /// No biases; BatchNorm weights N(1, 0.02), convolutions N(0, 0.02).
    static func dcgan(_ config: ModelConfig, rng: inout RandomGenerator) -> (Module, Module) {
        let (c, k, nz) = (config.imageChannels, config.classes, config.nz)
        let levels = config.imageSize.trailingZeroBitCount - 2  // 64 px: 4 levels of width
        let normal = Initializer.normal(std: 0.02)
        func norm(_ channels: Int) -> BatchNorm {
            BatchNorm(channels, weightInitial: rng.normal(channels, mean: 1, std: 0.02))
        }
        var g: [Module] = [Reshape([nz + k, 1, 1])]
        var width = config.ngf << (levels - 1)
        g += [ConvTranspose2D(nz + k, width, kernel: 4, stride: 1, padding: 0, bias: false, initializer: normal, rng: &rng),
              norm(width), ActivationLayer(.relu)]
        for _ in 1..<levels {
            g += [ConvTranspose2D(width, width / 2, kernel: 4, stride: 2, padding: 1, bias: false, initializer: normal, rng: &rng),
                  norm(width / 2), ActivationLayer(.relu)]
            width /= 2
        }
        g += [ConvTranspose2D(width, c, kernel: 4, stride: 2, padding: 1, bias: false, initializer: normal, rng: &rng),
              ActivationLayer(.tanh)]

        var d: [Module] = [Conv2D(c + config.discriminatorClassPlanes, config.ndf, kernel: 4, stride: 2, padding: 1, bias: false, initializer: normal, rng: &rng),
                           ActivationLayer(.leakyRelu(slope: 0.2))]
        width = config.ndf
        for _ in 1..<levels {
            d += [Conv2D(width, width * 2, kernel: 4, stride: 2, padding: 1, bias: false, initializer: normal, rng: &rng),
                  norm(width * 2), ActivationLayer(.leakyRelu(slope: 0.2))]
            width *= 2
        }
        d += [Conv2D(width, config.discriminatorOutputs, kernel: 4, stride: 1, padding: 0, bias: false, initializer: normal, rng: &rng),
              Reshape.flatten]
        return (Sequential(g), Sequential(d))
    }
}
