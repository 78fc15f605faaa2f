import ArgumentParser
import Atelier
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a generator (or a folder of pictures) against Fashion-MNIST's test set, or a pix2pix or CycleGAN model on its test pictures.",
        discussion: """
        The measures are taken in the 128 features of a small Fashion-MNIST classifier that Atelier trains on first use \
        (about a minute) and keeps in its cache: the Fréchet distance of the two feature distributions (the formula of FID, \
        in this network's features), the kernel distance (KID) with its standard error, class coverage (the entropy of the \
        predicted classes; 2.30 nats when all ten are equally present), confidence, and for cdcgan the share of each class's \
        samples classified as that class. RGB or larger pictures are made gray and 28x28 first; the output says so. \
        A pix2pix checkpoint is measured on --test-data's test pairs (L1 and SSIM of outputs to targets, and the Fréchet \
        distance of outputs to targets); a CycleGAN checkpoint on its testA/ pictures (how much of each silhouette the \
        output keeps, and the Fréchet distance of the outputs to testB/).
        """
    )

    @Option(help: "A gan, dcgan or cdcgan checkpoint.safetensors.")
    var checkpoint: String?

    @Option(parsing: .unconditional, help: "The checkpoint kept after this epoch (train --keep-checkpoints), beside --checkpoint.")
    var epoch: Int?

    @Option(name: .customLong("test-data"), help: "For a pix2pix or CycleGAN checkpoint: its data folder (test/ pairs, or testA/ and testB/), as `atelier datasets` writes it.")
    var testData: String?

    @Option(help: "Instead of --checkpoint: a folder of pictures to score (class sub-folders allowed).")
    var real: String?

    @Option(parsing: .unconditional, help: "Samples to draw (or at most this many pictures of --real).")
    var count = 10_000

    @Option(parsing: .unconditional, help: "Seed of the samples' noise.")
    var seed: UInt64 = 1

    @Option(help: "auto, cpu, opencl or opencl:P:D.")
    var device = "auto"

    @Option(help: "Folder of the Fashion-MNIST IDX files (the reference, and the feature network's training set).")
    var dataroot = FashionMNIST.defaultDirectory

    @Flag(name: .customLong("batch-statistics"), help: "Draw the samples with BatchNorm on each batch of 64's own statistics, as PyTorch's nets do in training mode (and the peers' --save-samples), instead of the running statistics.")
    var batchStatistics = false

    @Flag(help: "Print the figures as JSON.")
    var json = false

    func validate() throws {
        guard (checkpoint == nil) != (real == nil) else { throw ValidationError("give --checkpoint (a generator) or --real (a folder of pictures), one of them") }
        if epoch != nil && checkpoint == nil { throw ValidationError("--epoch picks a checkpoint kept beside --checkpoint") }
        guard (2...100_000).contains(count) else { throw ValidationError("--count must lie in 2...100000 (10000 is the usual)") }
    }

    func run() throws {
        let backend = try DeviceChoice(parsing: device).makeBackend()
        let log: (String) -> Void = { line in if json { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) } }
        // What is asked for is checked before the network loads (or trains).
        let path = try checkpoint.map { try chosenCheckpoint($0, epoch: epoch) }
        let translation = try path.map { try Checkpoint.read($0).state.model.kind.isTranslation } ?? false
        if translation && testData == nil {
            throw CommandError("\(path!) holds an image-to-image model: give its test pictures with --test-data DIR (the folder `atelier datasets edges2fashion` or `fabrics` wrote)")
        }
        let evaluator = try Evaluator(backend: backend, dataroot: dataroot, log: log)
        let report: EvaluationReport
        if let real {
            report = try evaluator.evaluate(folder: real, limit: count)
        } else {
            let path = path!
            if translation, let testData {
                let translation = try evaluator.evaluate(translation: path, data: testData, limit: count, backend: backend)
                print(json ? try Self.json(translation) : Self.text(translation))
                return
            }
            report = try evaluator.evaluate(checkpoint: path, count: count, seed: seed, backend: backend, batchStatistics: batchStatistics)
        }
        print(json ? try Self.json(report) : Self.text(report, cache: evaluator.network.file))
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func text(_ r: TranslationReport) -> String {
        var lines = ["\(r.model) checkpoint \(r.source) on \(r.count) pictures of \(r.data):"]
        if let l1 = r.l1, let ssim = r.ssim {
            lines.append(String(format: "  L1 to the targets     %8.4f   (mean absolute difference, 0 to 1)", l1))
            lines.append(String(format: "  SSIM to the targets   %8.4f   (1 when equal)", ssim))
        }
        if let iou = r.silhouetteIoU {
            lines.append(String(format: "  silhouette kept       %8.4f   (intersection over union of input and output silhouettes)", iou))
        }
        lines.append(String(format: "  Fréchet distance      %8.3f   to the %d %@, in the feature network's features", r.frechetDistance,
                            r.referenceCount, r.model == .pix2pix ? "targets" : "pictures of testB/"))
        if let conversion = r.conversion { lines.append("  converted for the feature network: \(conversion)") }
        return lines.joined(separator: "\n")
    }

    /// The report as the terminal shows it.
    static func text(_ r: EvaluationReport, cache: URL?) -> String {
        var lines: [String] = []
        let what = r.model.map { "\($0) checkpoint \(r.source)" + (r.epoch.map { " (after epoch \($0))" } ?? "") + ": \(r.count) samples" }
            ?? "\(r.source): \(r.count) pictures"
        lines.append(what)
        if let conversion = r.conversion { lines.append("  converted for the feature network: \(conversion)") }
        lines.append("  against Fashion-MNIST's \(r.referenceCount) test pictures, in the feature network's \(FeatureClassifier.featureCount) features:")
        lines.append(String(format: "  Fréchet distance      %10.3f   (0 for the same mean and covariance)", r.frechetDistance))
        lines.append(String(format: "  kernel distance (KID) %10.4f ± %.4f (standard error over subsets)", r.kernelDistance, r.kernelDistanceError))
        lines.append(String(format: "  class coverage        %10.2f   nats of %.2f (entropy of the predicted classes)", r.classCoverage, Foundation.log(10.0)))
        lines.append(String(format: "  confidence            %10.2f   (mean probability of the predicted class)", r.confidence))
        let shares = FashionMNIST.classNames.map { String(format: "%@ %.0f%%", $0, (r.classShares[$0] ?? 0) * 100) }
        lines.append("  predicted classes: " + shares.joined(separator: ", "))
        if let agreement = r.classAgreement, let mean = r.meanClassAgreement {
            let each = FashionMNIST.classNames.compactMap { name in agreement[name].map { String(format: "%@ %.0f%%", name, $0 * 100) } }
            lines.append(String(format: "  classified as the class asked for: %.1f%% on average; ", mean * 100) + each.joined(separator: ", "))
        }
        lines.append(String(format: "  feature network %@: %.2f %% test accuracy%@", r.featureNetwork, r.featureNetworkAccuracy * 100,
                            cache.map { ", cached in \($0.path)" } ?? ""))
        return lines.joined(separator: "\n")
    }
}
