import Foundation
import Testing
import Atelier

/// The README's library example, as written there but for the folders: a
/// program that trains and samples through `import Atelier` alone.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz"),
                "needs dataset-fashion-mnist"))
struct LibraryExampleTests {
    @Test("The README's library example trains, then samples a sheet")
    func readmeExample() throws {
        let folder = try temporaryDirectory("library-example")
        defer { try? FileManager.default.removeItem(at: folder) }
        let sheetPath = folder.appendingPathComponent("garments.png").path

        // Train the DCGAN on Fashion-MNIST for one epoch on the CPU path.
        var options = TrainingOptions()
        options.model = .dcgan
        options.epochs = 1
        options.limitImages = 128  // README: 2048
        options.out = folder.appendingPathComponent("run").path  // README: "runs/library-example"
        options.device = "cpu"
        let backend = CPUBackend()
        let run = try TrainingRun(options: options, resume: false, backend: backend) { print($0) }
        _ = try run.run(onStep: { _ in }, shouldStop: { false })

        // Sample 16 garments from the checkpoint it wrote.
        let (model, state) = try GANModel.restored(from: run.files.checkpoint.path, on: backend)
        var noise = RandomGenerator(seed: 1)
        let images = try GANSampler(model: model, backend: backend).generate(noise: noise.normal(16 * state.model.nz))
        try PNG.write(Pictures.sheet(images, count: 16, channels: 1, size: 28, columns: 4, range: state.model.pixelRange), to: sheetPath)

        let sheet = try PNG.read(sheetPath)
        #expect(sheet.width > 4 * 28 && sheet.height > 4 * 28)
    }
}
