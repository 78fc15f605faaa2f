import ArgumentParser
import Atelier
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's weights alone, named as PyTorch names them, for PyTorch or `train --init-from`.",
        discussion: """
        The file loads into the PyTorch module of the same architecture with load_state_dict(..., strict=True): \
        junyanz's networks for pix2pix and CycleGAN, pytorch/examples' DCGAN for dcgan at 32 px and up, and \
        Tools/pytorch/atelier_nets.py for the others (docs/weights.md has the mapping).
        """
    )

    @Option(help: "A checkpoint.safetensors written by `atelier train`.")
    var checkpoint: String

    @Option(parsing: .unconditional, help: "The checkpoint kept after this epoch (train --keep-checkpoints), beside --checkpoint, instead of the latest.")
    var epoch: Int?

    @Option(help: "The .safetensors file to write.")
    var out: String

    @Option(help: "The network to write: generator, discriminator (gan, dcgan, cdcgan), G, D (pix2pix), G_A, G_B, D_A, D_B (cyclegan), or all, each under its name and a dot (default: the generator that makes pictures).")
    var network: String?

    @Option(help: "f32, f16, bf16 or f64.")
    var dtype = "f32"

    func validate() throws {
        guard Safetensors.DType(rawValue: dtype.uppercased())?.isFloat == true else {
            throw ValidationError("--dtype takes f32, f16, bf16 or f64, got '\(dtype)'")
        }
        guard out.lowercased().hasSuffix(".safetensors") else { throw ValidationError("--out names a .safetensors file, e.g. G.safetensors") }
    }

    func run() throws {
        let path = try chosenCheckpoint(checkpoint, epoch: epoch)
        let networks: [String]?
        if network == "all" {
            networks = PyTorchNames(try Checkpoint.read(path).state.model).networks
        } else {
            networks = network.map { [$0] }
        }
        let written = try WeightsFile.export(checkpoint: path, networks: networks, dtype: Safetensors.DType(rawValue: dtype.uppercased())!, to: out)
        let size = ByteCountFormatter.string(fromByteCount: Int64(written.bytes), countStyle: .file)
        print("wrote \(written.networks.joined(separator: ", ")) to \(out): \(written.tensors) tensors, \(size), \(dtype.uppercased())")
        for (name, module) in zip(written.networks, written.modules) { print("  \(name): loads into \(module)") }
        if written.networks.count == 1 {
            print("in PyTorch: net.load_state_dict(safetensors.torch.load_file(\"\(out)\"), strict=True)")
        } else {
            print("each key is the network's name, a dot and its state_dict key; `atelier train --init-from \(out)` loads them all")
        }
    }
}
