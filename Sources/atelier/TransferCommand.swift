import ArgumentParser
import Atelier
import Foundation

struct TransferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Translate pictures with a pix2pix or CycleGAN checkpoint: one file or a whole folder.",
        discussion: """
        Pictures of any size and kind (PNG or JPEG, gray or colour) are fitted to the model's size (--fit), \
        translated one at a time as pix2pix does at test time (dropout on, each picture normalised by its own \
        statistics) and brought back to their own size. A folder is translated batch by batch with progress; \
        outputs keep the input's name as .png. --aligned takes the input half of side-by-side A|B pairs, such \
        as a dataset's test/ folder.
        """
    )

    @Option(help: "A checkpoint.safetensors written by `atelier train --model pix2pix` or `--model cyclegan`.")
    var checkpoint: String

    @Option(name: .customLong("in"), help: "A picture (PNG or JPEG) or a folder of them.")
    var input: String

    @Option(help: "For one picture: the output file (.png or .jpg); for a folder: the output folder.")
    var out: String

    @Option(help: "AtoB or BtoA: CycleGAN translates both ways (default AtoB); pix2pix only in the direction it was trained in (default: that one).")
    var direction: TranslationSettings.Direction?

    @Option(help: "resize (stretch to the model's square and back) or pad (fit inside it on white, keeping the aspect).")
    var fit: PictureFit = .resize

    @Flag(help: "The inputs are side-by-side A|B pairs: translate their input half (A for AtoB).")
    var aligned = false

    @Option(help: "Also write input | output pairs (the first 64) as one PNG sheet here.")
    var sheet: String?

    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Pictures read, translated and written per batch.")
    var batchSize = 32

    @Option(help: "auto, cpu, opencl or opencl:P:D.")
    var device = "auto"

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let sheet, !sheet.lowercased().hasSuffix(".png") { throw ValidationError("--sheet writes a PNG: give it a .png name") }
    }

    private func listing(_ folder: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw DatasetError("cannot list --in \(folder): \(FileErrorText.reason(error))")
        }
    }

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
            throw DatasetError("--in \(input) does not exist")
        }
        let inputs: [URL]
        let outputs: [URL]
        if isDirectory.boolValue {
            let names = try listing(input)
                .filter { !$0.hasPrefix(".") && ImageFile.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            guard !names.isEmpty else { throw DatasetError("--in \(input) holds no pictures (.png, .jpg, .jpeg)") }
            do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
                throw DatasetError("cannot create --out \(out): \(FileErrorText.reason(error))")
            }
            inputs = names.map { URL(fileURLWithPath: input).appendingPathComponent($0) }
            outputs = names.map { URL(fileURLWithPath: out).appendingPathComponent(($0 as NSString).deletingPathExtension + ".png") }
        } else {
            let ext = (out as NSString).pathExtension.lowercased()
            guard ImageFile.extensions.contains(ext) else {
                throw CommandError("--out \(out): for one picture give a .png or .jpg file name (a folder takes a folder --in)")
            }
            inputs = [URL(fileURLWithPath: input)]
            outputs = [URL(fileURLWithPath: out)]
        }
        let backend = try DeviceChoice(parsing: device).makeBackend()
        let transfer = try Transfer(checkpoint: checkpoint, direction: direction, fit: fit, backend: backend)
        let config = transfer.config
        var sheetPairs: [(PixelImage, PixelImage)] = []
        let start = Date()
        for first in stride(from: 0, to: inputs.count, by: batchSize) {
            let batch = first..<min(first + batchSize, inputs.count)
            let pictures = try batch.map { i -> PixelImage in
                let p = try ImageFile.read(inputs[i].path)
                return aligned ? try PictureFit.half(of: p, right: transfer.inputIsRightHalf) : p
            }
            let results = try transfer.translate(pictures)
            for (i, result) in zip(batch, results) {
                let path = outputs[i].path
                if path.lowercased().hasSuffix(".png") { try PNG.write(result, to: path) } else { try JPEG.write(result, to: path) }
                if sheet != nil && sheetPairs.count < 64 { sheetPairs.append((pictures[i - first], result)) }
            }
            Terminal.status(String(format: "translated %d/%d pictures (%.1f per second)", batch.upperBound, inputs.count,
                                   Double(batch.upperBound) / max(Date().timeIntervalSince(start), 1e-9)))
        }
        if let sheet {
            let side = config.imageSize, channels = max(config.imageChannels, config.inputShape[0])
            let columns = sheetPairs.map { pair in
                (PictureFit.resize.input(pair.0, side: side, channels: channels).0, PictureFit.resize.input(pair.1, side: side, channels: channels).0)
            }
            let picture = Pictures.triplets([columns.flatMap(\.0), columns.flatMap(\.1)], channels: [channels, channels],
                                            count: columns.count, size: side, range: -1...1, perRow: 4)
            try PNG.write(picture, to: sheet)
        }
        Terminal.line("translated \(inputs.count) picture\(inputs.count == 1 ? "" : "s") to \(out)\(sheet.map { "; input | output sheet in \($0)" } ?? "")")
    }
}
