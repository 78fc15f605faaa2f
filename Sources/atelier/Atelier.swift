import ArgumentParser
import Atelier

@main
struct AtelierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atelier",
        abstract: "Train GANs and style-transfer models (pix2pix, CycleGAN) for fashion images on any OpenCL device, or on the CPU.",
        version: AtelierVersion.release,
        subcommands: [TrainCommand.self, TransferCommand.self, SampleCommand.self, EvalCommand.self, ExportCommand.self, DatasetsCommand.self, DevicesCommand.self]
    )
}

/// A command's own error, found while it runs (a checkpoint that does not
/// fit, a sheet too large): its message alone. ArgumentParser's
/// ValidationError, thrown there, printed the top command's usage instead of
/// the one the user ran; option errors belong in `validate()`.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
