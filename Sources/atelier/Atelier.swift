import ArgumentParser
import Atelier

@main
struct AtelierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atelier",
        abstract: "Train GANs for fashion images on any OpenCL device, or on the CPU.",
        subcommands: [TrainCommand.self, SampleCommand.self, DevicesCommand.self]
    )
}
