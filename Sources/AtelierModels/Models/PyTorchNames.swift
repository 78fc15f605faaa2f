/// The names PyTorch gives a network's tensors in its state_dict, for the
/// PyTorch module of the same architecture, so that weights exported by
/// Atelier load with `load_state_dict(..., strict=True)` and weights saved
/// from PyTorch initialise Atelier's networks:
///
/// - pix2pix and CycleGAN: junyanz/pytorch-CycleGAN-and-pix2pix's
///   UnetGenerator, ResnetGenerator and NLayerDiscriminator (`netG`,
///   `netD`, ...): Atelier's names after the network are theirs already.
/// - dcgan and cdcgan at 32 px and up: pytorch/examples' DCGAN
///   `Generator` and `Discriminator` (`main.N`); G's layers sit one place
///   earlier there, as its input is already z as a 1x1 image.
/// - gan, and dcgan and cdcgan at 28 px (no PyTorch original): an
///   `nn.Sequential` of the same layers, `N.weight`; Tools/pytorch/atelier_nets.py
///   builds them.
///
/// BatchNorm layers have a `num_batches_tracked` counter (I64) in PyTorch
/// and none in Atelier.
public struct PyTorchNames: Sendable {
    public let config: ModelConfig

    public init(_ config: ModelConfig) { self.config = config }

    /// The networks with weights, the one that makes pictures first.
    public var networks: [String] {
        switch config.kind {
        case .gan, .dcgan, .cdcgan: ["generator", "discriminator"]
        case .pix2pix: ["G", "D"]
        case .cyclegan: ["G_A", "G_B", "D_A", "D_B"]
        }
    }

    /// The network `sample` and `transfer` use: exported when no other is named.
    public var pictureNetwork: String { networks[0] }

    private var pytorchExamplesLayout: Bool { [.dcgan, .cdcgan].contains(config.kind) && config.imageSize != 28 }

    /// The PyTorch module whose state_dict has these names.
    public func module(_ network: String) -> String {
        let generator = network.hasPrefix("G") || network == "generator"
        switch config.kind {
        case .pix2pix, .cyclegan:
            let t = config.translation ?? TranslationSettings(inputChannels: config.imageChannels)
            let (input, output) = network == "G_B" || network == "D_B" ? (config.imageChannels, t.inputChannels)
                                                                         : (t.inputChannels, config.imageChannels)
            let norm = "norm_layer=\(t.norm == .batch ? "BatchNorm2d" : "InstanceNorm2d")"
            if !generator {
                // pix2pix's D sees input and output side by side; D_A judges domain B, D_B domain A.
                let channels = config.kind == .pix2pix ? input + output : output
                return "junyanz NLayerDiscriminator(\(channels), ndf=\(config.ndf), n_layers=3, \(norm))"
            }
            if config.kind == .pix2pix {
                return "junyanz UnetGenerator(\(input), \(output), num_downs=\(config.imageSize.trailingZeroBitCount), ngf=\(config.ngf), \(norm))"
            }
            return "junyanz ResnetGenerator(\(input), \(output), ngf=\(config.ngf), \(norm), n_blocks=\(t.residualBlocks))"
        case .gan, .dcgan, .cdcgan:
            if pytorchExamplesLayout { return "pytorch/examples dcgan \(generator ? "Generator" : "Discriminator") (main.N)" }
            return "nn.Sequential of Atelier's \(config.kind) \(network) layers (Tools/pytorch/atelier_nets.py)"
        }
    }

    /// The state_dict key of `name`, an Atelier parameter name
    /// ("<network>.<path>"), or nil when it belongs to no network here.
    public func pytorchName(_ name: String) -> (network: String, key: String)? {
        guard let network = networks.first(where: { name.hasPrefix($0 + ".") }) else { return nil }
        let path = String(name.dropFirst(network.count + 1))
        switch config.kind {
        case .pix2pix, .cyclegan:
            return (network, path)
        case .gan, .dcgan, .cdcgan:
            // "layers.N.weight": the Sequential's layer N.
            let parts = path.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "layers", let index = Int(parts[1]) else { return (network, path) }
            guard pytorchExamplesLayout else { return (network, "\(index).\(parts[2])") }
            return (network, "main.\(network == "generator" ? index - 1 : index).\(parts[2])")
        }
    }

    /// `keys` as PyTorch's `spectral_norm` names them: a spectrally
    /// normalised layer's raw weight (the one beside a `weight_u`) is its
    /// `weight_orig`; the rest are as they were.
    public static func spectralNormNames(_ keys: [String]) -> [String] {
        let normalized = Set(keys.filter { $0.hasSuffix(".weight_u") }.map { String($0.dropLast("_u".count)) })
        return keys.map { normalized.contains($0) ? $0 + "_orig" : $0 }
    }

    /// The BatchNorm counters PyTorch keeps beside these parameters: one
    /// per layer with running statistics.
    public static func batchCounters(_ keys: [String]) -> [String] {
        keys.filter { $0.hasSuffix(".running_mean") }.map { String($0.dropLast("running_mean".count)) + "num_batches_tracked" }
    }
}
