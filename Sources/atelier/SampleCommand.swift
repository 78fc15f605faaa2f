import ArgumentParser
import Atelier
import Foundation

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate images from a checkpoint or a weights file: one sample sheet, or one PNG per image."
    )

    @Option(help: "A checkpoint.safetensors written by `atelier train`.")
    var checkpoint: String?

    @Option(help: "Instead of --checkpoint: generator weights alone, as `atelier export` writes them or saved from PyTorch with safetensors (F32, F16, BF16 or F64). A file from PyTorch needs --model and the sizes below.")
    var weights: String?

    @Option(help: "With a --weights file that does not record its model: gan, dcgan or cdcgan.")
    var model: ModelKind?

    @Option(name: [.customLong("image-size"), .customLong("imageSize")], parsing: .unconditional, help: "With --model: the image side the generator makes (default 28).")
    var imageSize = 28

    @Option(parsing: .unconditional, help: "With --model: image channels, 1 or 3.")
    var channels = 1

    @Option(parsing: .unconditional, help: "With --model: the noise length.")
    var nz = 100

    @Option(parsing: .unconditional, help: "With --model: the generator's width (pytorch/examples' --ngf).")
    var ngf = 64

    @Option(name: .customLong("class-names"), help: "With --model cdcgan: the classes, comma-separated, in the order of the one-hot input (default Fashion-MNIST's ten).")
    var classNames: String?

    @Option(parsing: .unconditional, help: "The checkpoint kept after this epoch (train --keep-checkpoints), beside --checkpoint, instead of the latest.")
    var epoch: Int?

    @Option(parsing: .unconditional, help: "Images to generate.")
    var count = 64

    @Option(name: .customLong("class"), help: "For cdcgan: a class name (e.g. Dress) or index (0-9).")
    var className: String?

    @Option(parsing: .unconditional, help: "Seed of the noise.")
    var seed: UInt64 = 1

    @Option(help: "auto, cpu, opencl or opencl:P:D.")
    var device = "auto"

    @Option(help: "A .png file for one sheet, or a folder for one PNG per image.")
    var out = "samples.png"

    /// Images generated at once, the most a sheet holds, and the most in all.
    static let batch = 256, sheetLimit = 1024, folderLimit = 100_000

    func validate() throws {
        guard (checkpoint == nil) != (weights == nil) else {
            throw ValidationError("give --checkpoint (a run's checkpoint) or --weights (a weights file), one of them")
        }
        if epoch != nil && checkpoint == nil { throw ValidationError("--epoch picks a checkpoint kept beside --checkpoint") }
        if let model, model.isTranslation {
            throw ValidationError("--model \(model) translates pictures; sample generates them (gan, dcgan, cdcgan)")
        }
        guard [1, 3].contains(channels) else { throw ValidationError("--channels takes 1 (gray) or 3 (RGB)") }
        guard (1...10_000).contains(nz), (1...1024).contains(ngf) else { throw ValidationError("--nz must lie in 1...10000 and --ngf in 1...1024") }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard !out.lowercased().hasSuffix(".png") || count <= Self.sheetLimit else {
            throw ValidationError("--count \(count): a sheet holds at most \(Self.sheetLimit) images; give --out a folder for one PNG per image")
        }
        guard count <= Self.folderLimit else { throw ValidationError("--count must be at most \(Self.folderLimit)") }
    }

    func run() throws {
        let sheet = out.lowercased().hasSuffix(".png")
        let (config, tensors, source) = try loadModel()
        var classes: [Int]?
        if config.isConditional {
            let index: Int
            if let className {
                if let k = Int(className), (0..<config.classes).contains(k) {
                    index = k
                } else if let k = config.classNames.firstIndex(where: { $0.caseInsensitiveCompare(className) == .orderedSame }) {
                    index = k
                } else {
                    throw CommandError("unknown class '\(className)'; this model knows: \(config.classNames.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", "))")
                }
                classes = Array(repeating: index, count: count)
            } else {
                classes = (0..<count).map { $0 % config.classes }
            }
        } else if let className {
            throw CommandError("--class '\(className)' needs a conditional model (cdcgan); \(source) holds \(config.kind)")
        }
        let backend = try DeviceChoice(parsing: device).makeBackend()
        let model = try GANModel.placed(config, on: backend)
        if weights != nil {
            for note in try WeightsFile.load(tensors, path: source, into: model, config: config, networks: ["generator"], on: backend) {
                print(note)
            }
        } else {
            try Checkpoint.restoreWeights(model, on: backend, from: tensors, path: source)
        }
        var noiseRNG = RandomGenerator(seed: seed)
        let noise = noiseRNG.normal(count * config.nz)
        // A batch at a time, so memory stays that of one batch whatever the count.
        let sampler = GANSampler(model: model, backend: backend)
        var images: [Float] = []
        for first in stride(from: 0, to: count, by: Self.batch) {
            let end = min(count, first + Self.batch)
            images += try sampler.generate(noise: Array(noise[first * config.nz..<end * config.nz]),
                                           classes: classes.map { Array($0[first..<end]) })
        }

        if sheet {
            // A conditional model's sheet of every class: a named row (or more) per class.
            let sheet = config.isConditional && className == nil
                ? try Pictures.classSheet(images, classes: classes ?? [], names: config.classNames, channels: config.imageChannels,
                                          size: config.imageSize, columns: 8, range: config.pixelRange)
                : Pictures.sheet(images, count: count, channels: config.imageChannels, size: config.imageSize,
                                 columns: min(count, 8), range: config.pixelRange)
            try PNG.write(sheet, to: out)
            print("wrote a sheet of \(count) images to \(out)")
        } else {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let per = config.imageShape.reduce(1, *)
            for n in 0..<count {
                let one = Pictures.sheet(Array(images[n * per..<(n + 1) * per]), count: 1, channels: config.imageChannels,
                                         size: config.imageSize, columns: 1, range: config.pixelRange, zoom: 1, border: false)
                try PNG.write(one, to: (out as NSString).appendingPathComponent(String(format: "%04d.png", n)))
            }
            print("wrote \(count) images to \(out)/")
        }
    }

    /// The model, its tensors and their file: a checkpoint's, or a weights
    /// file's with the model it records or the one the options describe.
    func loadModel() throws -> (ModelConfig, [String: Safetensors.Entry], String) {
        let config: ModelConfig, tensors: [String: Safetensors.Entry], source: String
        if let weights {
            let (read, recorded, _) = try WeightsFile.read(weights)
            if let recorded {
                if let model, model != recorded.kind {
                    throw CommandError("\(weights) records a \(recorded.kind) model, not \(model); leave out --model")
                }
                config = recorded
            } else {
                guard let model else {
                    throw CommandError("\(weights) does not record its model (it was not written by `atelier export`): say which with --model gan|dcgan|cdcgan, and --image-size, --channels, --nz, --ngf where they differ from 28, 1, 100, 64")
                }
                let names = model == .cdcgan ? classNames.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                    ?? FashionMNIST.classNames : []
                config = ModelConfig(kind: model, nz: nz, imageChannels: channels, imageSize: imageSize, classNames: names, ngf: ngf)
                do { try config.validate() } catch { throw CommandError("\(error)") }
            }
            (tensors, source) = (read, weights)
        } else {
            source = try chosenCheckpoint(checkpoint ?? "", epoch: epoch)
            let (state, read) = try Checkpoint.read(source)
            (config, tensors) = (state.model, read)
        }
        guard !config.kind.isTranslation else {
            throw CommandError("\(source) holds a \(config.kind) model, which translates pictures rather than generating them: use `atelier transfer --checkpoint CHECKPOINT --in PICTURES --out DIR`")
        }
        return (config, tensors, source)
    }
}
