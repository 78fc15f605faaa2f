import ArgumentParser
import Atelier

@main
struct AtelierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atelier",
        abstract: "Train GANs and style-transfer models (pix2pix, CycleGAN) for fashion images on any OpenCL device, or on the CPU.",
        version: AtelierVersion.release,
        subcommands: [TrainCommand.self, TransferCommand.self, SampleCommand.self, DatasetsCommand.self, DevicesCommand.self]
    )
}
