import ArgumentParser
import Atelier
import Foundation

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate images from a checkpoint: one sample sheet, or one PNG per image."
    )

    @Option(help: "A checkpoint.safetensors written by `atelier train`.")
    var checkpoint: String

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

    /// --checkpoint, or with --epoch the kept checkpoint of that epoch beside it.
    func chosenCheckpoint() throws -> String {
        guard let epoch else { return checkpoint }
        let run = RunFiles(URL(fileURLWithPath: checkpoint).deletingLastPathComponent().path)
        let kept = run.epochCheckpoint(epoch)
        guard FileManager.default.fileExists(atPath: kept.path) else {
            let epochs = run.keptEpochs()
            throw CommandError("--epoch \(epoch): \(kept.path) does not exist; "
                + (epochs.isEmpty ? "the run kept no epoch's checkpoint (train with --keep-checkpoints N or all)"
                                  : "kept epochs: \(epochs.map(String.init).joined(separator: ", "))"))
        }
        return kept.path
    }

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard !out.lowercased().hasSuffix(".png") || count <= Self.sheetLimit else {
            throw ValidationError("--count \(count): a sheet holds at most \(Self.sheetLimit) images; give --out a folder for one PNG per image")
        }
        guard count <= Self.folderLimit else { throw ValidationError("--count must be at most \(Self.folderLimit)") }
    }

    func run() throws {
        let sheet = out.lowercased().hasSuffix(".png")
        let checkpoint = try chosenCheckpoint()
        let (state, tensors) = try Checkpoint.read(checkpoint)
        let config = state.model
        guard !config.kind.isTranslation else {
            throw CommandError("\(checkpoint) holds a \(config.kind) model, which translates pictures rather than generating them: use `atelier transfer --checkpoint \(checkpoint) --in PICTURES --out DIR`")
        }
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
            throw CommandError("--class '\(className)' needs a conditional model (cdcgan); this checkpoint holds \(config.kind)")
        }
        let backend = try DeviceChoice(parsing: device).makeBackend()
        var rng = RandomGenerator(seed: 0)
        let model = try GANModel(config: config, rng: &rng)
        for (_, p) in model.namedParameters { try p.place(on: backend) }
        try Checkpoint.restoreWeights(model, on: backend, from: tensors, path: checkpoint)
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
}
